#!/usr/bin/perl

# The legacy HTTP+SSE transport right after a stream opens: a client that
# POSTs to the endpoint the moment it reads it, to any worker of any
# instance, is answered 202 and gets its reply on the stream.  Two
# instances A and B (two workers each) share PostgreSQL and a private
# Redis; A reaches Redis through a proxy that delays what A sends (the
# replies come back at once).
#
# Deterministic part: with A's commands 400 ms late, a POST to B that
# follows the endpoint event at once would reach Redis before the
# stream's registration (and be refused, 404) if A sent the endpoint
# before Redis had run the registration; A sends it only after.  Then,
# with no delay, many GET /sse on A and immediate POSTs alternating A and
# B (Redis does not run the commands of two connections in the order
# they were sent: without the wait, a few of these were refused).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

use ConfHaven::Test;
use ConfHaven::MCP;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->worker_processes(2);
my $t2 = ConfHaven::Test->new()->needs_module()->worker_processes(2);
$t->private_redis();
$t->plan(11);

my $conf = <<'EOF2';
confhaven_pg_server "%%DSN%%";
confhaven_redis_server redis://%%REDIS%%;
confhaven_redis_timeout 3s;

server {
    listen 127.0.0.1:%%PORT_1%%;

    location /sse {
        confhaven_mcp_sse on;
    }

    location /mcp {
        confhaven_mcp on;
    }
}
EOF2

# ---- the proxy between A and Redis: what A sends waits the delay (ms)
# written in the file "delay" of A's test directory, in order

my $delay_file = $t->testdir . '/delay';
$t->write_file($delay_file, "400\n");

my $redis = $t->redis;
my ($rhost, $rport) = split /:/, $redis;
my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                   Listen => 64, ReuseAddr => 1, Proto => 'tcp')
    or die "proxy: $!\n";
my $pport = $listen->sockport;

$t->run_daemon(sub {
    my $sel = IO::Select->new($listen);
    my (%peer, %queue, %from_a);
    while (1) {
        my $now = time();
        my $wait = 0.05;
        for my $k (keys %queue) {
            my $q = $queue{$k};
            while (@$q && $q->[0][0] <= $now) {
                my $item = shift @$q;
                my $out = $item->[1];
                my $data = $item->[2];
                while (length $data) {
                    my $n = syswrite($out, $data);
                    last unless defined $n;
                    substr($data, 0, $n, '');
                }
            }
            $wait = $q->[0][0] - $now if @$q && $q->[0][0] - $now < $wait;
        }
        $wait = 0 if $wait < 0;
        for my $s ($sel->can_read($wait)) {
            if ($s == $listen) {
                my $c = $listen->accept or next;
                my $u = IO::Socket::INET->new(PeerAddr => $rhost, PeerPort => $rport,
                                              Proto => 'tcp') or do { close $c; next };
                $peer{$c} = $u;
                $peer{$u} = $c;
                $from_a{$c} = 1;
                $queue{$c} = [];
                $sel->add($c, $u);
                next;
            }
            my $buf;
            my $n = sysread($s, $buf, 65536);
            my $o = $peer{$s};
            if (!$n) {
                for my $x ($s, $o) {
                    next unless $x;
                    $sel->remove($x);
                    delete $peer{$x};
                    delete $queue{$x};
                    delete $from_a{$x};
                    close $x;
                }
                next;
            }
            if ($from_a{$s}) {
                open my $fh, '<', $delay_file;
                my $d = <$fh> // 0;
                close $fh;
                push @{$queue{$s}}, [ time() + $d / 1000, $o, $buf ];
            } else {
                syswrite($o, $buf);
            }
        }
    }
});
close $listen;

(my $conf_a = $conf) =~ s/%%REDIS%%/127.0.0.1:$pport/;
$t->write_conf($conf_a);

my $dsn = $t->db;
(my $conf2 = $conf) =~ s/%%DSN%%/$dsn/;
$conf2 =~ s/%%REDIS%%/$redis/;
$t2->write_conf($conf2);

$t->run();
$t2->run();

my $ma = ConfHaven::MCP->new($t, path => '/sse');

# every worker of both instances has its subscription
my $subscribed = 0;
for (1 .. 200) {
    my @ch = grep { length } split /\n/, $t->redis_cli('PUBSUB', 'CHANNELS', 'confhaven:mcp:sse:*');
    if (@ch >= 4) {
        $subscribed = 1;
        last;
    }
    sleep(0.05);
}
ok($subscribed, 'every worker of A and B subscribed');

# open_post(N, INSTANCE_OF(i)): N streams on A at once, then for each the
# first POST (a ping) as soon as its endpoint event is read; returns the
# number of endpoint events, the POSTs' statuses and those not answered
# on their stream
sub open_post {
    my ($n, $to, $base) = @_;
    my @s = map { $ma->open_stream('GET', '/sse',
                                   headers => [ 'Accept' => 'text/event-stream' ]) }
            1 .. $n;
    my (@p, %status, @lost);
    my $endpoints = 0;
    for my $k (0 .. $#s) {
        my $s = $s[$k];
        $ma->read_until($s, sub { ($_[0]{body} // '') =~ /sessionId=[0-9a-f]{32}/ }, 10);
        my ($url) = ($ma->response($s)->{body} // '') =~ m{data: (\S+sessionId=[0-9a-f]{32})};
        next unless $url;
        $endpoints++;
        push @p, [ $k, $to->($k)->http_start('POST', $url, content_type => 'application/json',
                                             body => $t->json->encode({ jsonrpc => '2.0',
                                                                        id => $base + $k,
                                                                        method => 'ping' })) ];
    }
    my @r = $t->http_finish(map { $_->[1] } @p);
    for my $j (0 .. $#p) {
        my ($k, $code) = ($p[$j][0], $r[$j]{status} // 0);
        $status{$code}++;
        my $id = $base + $k;
        my $ok = $code == 202
                 && $ma->read_until($s[$k], sub { ($_[0]{body} // '') =~ /"id":$id\b/ }, 5);
        push @lost, "$id:$code" unless $ok;
    }
    close $_->{sock} for @s;
    return ($endpoints, \%status, \@lost);
}


# ---- A's commands 400 ms late: the endpoint event waits for them

my $t0 = time();
my ($e, $st, $lost) = open_post(10, sub { $t2 }, 1);
is($e, 10, "10 streams on A (A's Redis 400 ms late), each with its endpoint event");
is($st->{202} // 0, 10, 'the first POST of each, at once, to B: 202')
    or diag(explain($st));
is(scalar @$lost, 0, 'each reply on its stream') or diag("lost: @$lost");
ok($t2->grep_log(qr/reply for a closed legacy SSE stream|malformed message/) == 0,
   'no reply dropped on the way');


# ---- Streamable HTTP, the same: initialize on A, the next request on B

my $ha = ConfHaven::MCP->new($t, path => '/mcp');
my $hb = ConfHaven::MCP->new($t2, path => '/mcp');
my ($made, $found) = (0, 0);
for (1 .. 5) {
    my $i = $ha->request('initialize', { protocolVersion => '2025-11-25', capabilities => {},
                                         clientInfo => { name => 't', version => '1' } });
    my $sid = $i->{headers}{'mcp-session-id'};
    next unless $sid;
    $made++;
    my $r = $hb->notify('notifications/initialized', undef, session => $sid,
                        version => '2025-11-25');
    $found++ if ($r->{status} // 0) == 202;
}
is($made, 5, "5 sessions initialized on A (A's Redis 400 ms late)");
is($found, 5, 'notifications/initialized on B right after each: 202');


# ---- no delay: many streams, POSTs to A and B at once

$t->write_file($delay_file, "0\n");
sleep(0.5);

my $N = $ENV{TEST_CONFHAVEN_RACE_N} // 200;
my ($endpoints, %status, @lost2) = (0);
for (my $i = 0; $i < $N; $i += 20) {
    my ($e2, $st2, $l2) = open_post(20, sub { $_[0] % 2 ? $t2 : $t }, 1000 + $i);
    $endpoints += $e2;
    $status{$_} += $st2->{$_} for keys %$st2;
    push @lost2, @$l2;
}
is($endpoints, $N, "$N streams opened on A, each with its endpoint event");
is($status{202} // 0, $N, "the first POST of each, at once, to A or B: 202")
    or diag(explain(\%status));
is(scalar @lost2, 0, 'each reply on its stream')
    or diag("lost: @lost2[0 .. ($#lost2 < 19 ? $#lost2 : 19)]");

$t2->stop();
my @alerts = $t2->alerts;
ok(!@alerts, 'no alerts on B') or diag(join "\n", @alerts[0 .. ($#alerts < 9 ? $#alerts : 9)]);
