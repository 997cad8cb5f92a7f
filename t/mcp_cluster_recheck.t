#!/usr/bin/perl

# MCP sessions in a cluster: a worker that Redis told about a session
# remembers it for a moment (1 s) and does not ask Redis again for every
# request of a burst; what ends a session still ends it at once.  Two
# instances A (three workers) and B (two) share PostgreSQL and a private
# Redis.  A burst of pings on one session costs a few Redis lookups, not
# one each; a DELETE on A is refused right after on every worker of A and
# of B (B hears it on confhaven:mcp:ended); a session deleted behind the
# instances' back (a tombstone written straight into Redis, nothing
# published) is refused on B once the moment has passed; a GET that
# resumes from an event of another instance and a DELETE still ask Redis.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);

use ConfHaven::Test;
use ConfHaven::MCP;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->worker_processes(3);
my $t2 = ConfHaven::Test->new()->needs_module()->worker_processes(2);
$t->private_redis();
$t->plan(14);

my $conf = <<'EOF2';
confhaven_pg_server "%%DSN%%";
confhaven_redis_server redis://%%REDIS%%;
confhaven_redis_timeout 3s;

log_format rc '$pid $request_method $uri $status';

server {
    listen 127.0.0.1:%%PORT_1%%;

    access_log %%TESTDIR%%/rc.log rc;

    location /mcp {
        confhaven_mcp on;
    }
}
EOF2

$t->write_conf($conf);
my $dsn = $t->db;
my $redis = $t->redis;
(my $conf2 = $conf) =~ s/%%DSN%%/$dsn/;
$conf2 =~ s/%%REDIS%%/$redis/;
$t2->write_conf($conf2);

$t->run();
$t2->run();

my $ha = ConfHaven::MCP->new($t, path => '/mcp');
my $V = '2025-11-25';

# every worker of A and B hears confhaven:mcp:ended
my $heard = 0;
for (1 .. 200) {
    my ($ch, $n) = split /\n/, $t->redis_cli('PUBSUB', 'NUMSUB', 'confhaven:mcp:ended');
    if (($n // 0) >= 5) {
        $heard = 1;
        last;
    }
    sleep(0.05);
}
ok($heard, 'every worker of A and B subscribed to confhaven:mcp:ended');

# burst(INSTANCE, SESSION, N): N pings at once; their statuses and the pids
# of the workers that answered them (from the access log)
sub burst {
    my ($x, $sid, $n) = @_;
    my $before = () = ($x->read_file('rc.log') // '') =~ /\n/g;
    my @h = map {
        $x->http_start('POST', '/mcp', content_type => 'application/json',
                       headers => [ 'Accept' => 'application/json, text/event-stream',
                                    'Mcp-Session-Id' => $sid,
                                    'MCP-Protocol-Version' => $V ],
                       body => $x->json->encode({ jsonrpc => '2.0', id => $_,
                                                  method => 'ping' }))
    } 1 .. $n;
    my %status;
    $status{$_->{status} // 0}++ for $x->http_finish(@h);
    my @lines;
    for (1 .. 40) {
        @lines = split /\n/, ($x->read_file('rc.log') // '');
        last if @lines >= $before + $n;
        sleep(0.05);
    }
    my %pids = map { (split / /)[0] => 1 } @lines[$before .. $#lines];
    return (\%status, scalar keys %pids);
}

sub asked {
    my ($x, $sid) = @_;
    return scalar $x->grep_log(qr/asking Redis about session \Q$sid\E/);
}


# ---- a burst on one session: a few lookups, not one per request

my ($sid) = $ha->initialize($V);
ok($sid, 'a session on A');

my ($st, $workers) = burst($t2, $sid, 40);
is($st->{200} // 0, 40, "40 pings at once on B with A's session: 200");
my $asked = asked($t2, $sid);
ok($asked >= 1 && $asked < 20, "B asked Redis about it $asked times, not 40");


# ---- DELETE on A: refused at once on every worker of A and B

my ($ok_a, $ok_b, $wa, $wb) = (0, 0, 0, 0);
for (1 .. 10) {
    ($st, $wa) = burst($t, $sid, 30);
    $ok_a = ($st->{200} // 0) == 30;
    ($st, $wb) = burst($t2, $sid, 30);
    $ok_b = ($st->{200} // 0) == 30;
    last if $wa >= 2 && $wb >= 2;
}
ok($ok_a && $ok_b, "pings on A ($wa workers) and on B ($wb workers) just before: 200");

my $r = $t->http('DELETE', '/mcp', headers => [ 'Mcp-Session-Id' => $sid,
                                                'MCP-Protocol-Version' => $V ]);
is($r->{status}, 200, 'DELETE on A');

($st, $wa) = burst($t, $sid, 30);
is_deeply($st, { 404 => 30 }, "right after, 30 pings on A ($wa workers): 404 each");
($st, $wb) = burst($t2, $sid, 30);
is_deeply($st, { 404 => 30 }, "and 30 on B ($wb workers): 404 each");


# ---- deleted behind the instances' back: refused on B after the moment

my ($sid2) = $ha->initialize($V);
($st) = burst($t2, $sid2, 20);
is($st->{200} // 0, 20, 'another session, used on B');
$t->redis_cli('SET', "confhaven:mcp:deleted:$sid2", '1', 'PX', '60000');
$t->redis_cli('DEL', "confhaven:mcp:session:$sid2");

my $gone = 0;
for (1 .. 100) {
    ($st) = burst($t2, $sid2, 4);
    if (($st->{404} // 0) == 4) {
        $gone = 1;
        last;
    }
    sleep(0.1);
}
ok($gone, 'a tombstone nobody published: refused on every worker of B soon after');
($st) = burst($t2, $sid2, 20);
is_deeply($st, { 404 => 20 }, 'and from then on');


# ---- what still asks Redis every time: DELETE, a resume from elsewhere

my ($sid3) = $ha->initialize($V);
burst($t2, $sid3, 10);
$asked = asked($t2, $sid3);
$r = $t2->http('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                           'Mcp-Session-Id' => $sid3,
                                           'MCP-Protocol-Version' => $V,
                                           'Last-Event-ID' => '1-5-' . ('0' x 16) ]);
ok(asked($t2, $sid3) == $asked + 1, 'a GET with a Last-Event-ID asks Redis');
$r = $t2->http('DELETE', '/mcp', headers => [ 'Mcp-Session-Id' => $sid3,
                                              'MCP-Protocol-Version' => $V ]);
ok($r->{status} == 200 && asked($t2, $sid3) == $asked + 2, 'so does a DELETE (on B: 200)');

$t2->stop();
my @alerts = $t2->alerts;
ok(!@alerts, 'no alerts on B') or diag(join "\n", @alerts[0 .. ($#alerts < 9 ? $#alerts : 9)]);
