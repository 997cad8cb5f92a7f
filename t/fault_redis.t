#!/usr/bin/perl

# Faults under load, Redis side, with two instances sharing a private
# Redis (A holds a legacy SSE stream, B takes its POSTs and publishes the
# replies to A through Redis): Redis stalled (SIGSTOP) and cut off (its
# command connections killed, then the server stopped) during cache reads
# and during cluster publishes, while clients reset their connections.
#
# The case that used to free a request under its handler: B notices the
# cut only when it writes the PUBLISH, so the write fails inside
# cluster_publish() and the reply callback runs before the POST handler
# returns.  B's worker is held (SIGSTOP) while the POSTs queue up and the
# connections are killed, so that it meets them in one go (multi_accept).
#
# Asserts: no alerts, no crash (MALLOC_PERTURB_), every answer sensible
# (cache reads fall back to the database: 200; a publish that cannot go
# out: 503 JSON-RPC error, never 500), both instances serve again when
# Redis is back, descriptors back to the baseline.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(sleep time);

use ConfHaven::Test;
use ConfHaven::MCP;

$ENV{MALLOC_PERTURB_} = 165;

my $ROUNDS = 6;

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->worker_processes(1);
my $t2 = ConfHaven::Test->new()->needs_module()->worker_processes(1);
$t->private_redis();
$t->plan(21 + 2 * $ROUNDS);

my $conf = <<'EOF';
events {
    multi_accept on;
}

http {
    confhaven_pg_server "%%DSN%%";
    confhaven_redis_server redis://%%REDIS%%;
    confhaven_redis_timeout 300ms;
    confhaven_redis_connect_timeout 300ms;

    server {
        listen 127.0.0.1:%%PORT_1%% deferred;

        add_header X-Cache-Status $confhaven_cache_status always;

        location /sse {
            confhaven_mcp_sse on;
            confhaven_mcp_sse_keepalive 1s;
        }

        location /mcp {
            confhaven_mcp on;
        }

        location / {
            confhaven_rest on;
            confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
        }
    }
}
EOF

$t->write_conf($conf);
my $dsn = $t->db;
my $redis = $t->redis;
(my $conf2 = $conf) =~ s/%%DSN%%/$dsn/;
$conf2 =~ s/%%REDIS%%/$redis/;
$t2->write_conf($conf2);
$t->run();
$t2->run();

my $r = $t->import_file('scottish-summit-2026',
                        'sessionize-all_scottish-summit-2026.json',
                        name => 'Scottish Summit 2026', timezone => 'Europe/London');
is($r->{status}, 200, 'import');

my $ma = ConfHaven::MCP->new($t, path => '/sse');

sub worker_pid {
    my ($x) = @_;
    my $mp = $x->pid;
    my @p = grep { /worker process/ } `ps --ppid $mp -o pid=,args=`;
    return @p && $p[0] =~ /^\s*(\d+)/ ? $1 : undef;
}

sub fds {
    my ($pid) = @_;
    opendir(my $d, "/proc/$pid/fd") or return -1;
    return scalar grep { !/^\./ } readdir $d;
}

sub rst_handle {
    my ($h) = @_;
    setsockopt($h->{sock}, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    close $h->{sock};
}

sub open_sse {
    my $s = $ma->open_stream('GET', '/sse',
                             headers => [ 'Accept' => 'text/event-stream' ]);
    $ma->read_until($s, sub { my @e = $ma->events($_[0]{body}); @e >= 1 }, 5);
    my ($ep) = $ma->events($ma->response($s)->{body});
    return ($s, $ep);
}

# A says where a stream is in Redis just after the endpoint event; B
# finds it from then on (a sanitized build can take its time after Redis
# restarted)
sub registered {
    my ($u) = @_;
    my ($sid) = $u =~ /sessionId=([0-9a-f]{32})/;
    for (1 .. 100) {
        return 1 if $sid && $t->redis_cli('HGET', "confhaven:mcp:session:$sid",
                                          'sse') ne '';
        sleep 0.1;
    }
    return 0;
}

sub wait_redis_back {
    my $ok = 0;
    for (1 .. 100) {
        my $a = $t->get_json('/api/sessions?q=azure&limit=3');
        if (($a->{headers}{'x-cache-status'} // '') =~ /^(?:HIT|MISS|EXPIRED)$/) {
            $ok = 1;
            last;
        }
        sleep 0.1;
    }
    return $ok;
}

my $q = 0;
sub search_path { $q++; return "/api/sessions?q=" . (qw(azure copilot data cloud ai))[$q % 5]
                                . "&limit=" . (1 + $q % 7) }

my ($wa, $wb) = (worker_pid($t), worker_pid($t2));
ok($wa && $wb, 'worker pids');

# warm up: both instances have their Redis connections
ok(wait_redis_back(), 'cache in use on A');
# as many database connections as the load below opens
$t->http_finish(map { $t->http_start('GET', search_path()) } 1 .. 20);
$t2->http_finish(map { $t2->http_start('GET', search_path()) } 1 .. 20);
my $fa0 = fds($wa);
my $fb0 = fds($wb);

# ----------------------------------------- cache reads, Redis stalled

kill 'STOP', $t->redis_pid;
my @h = map { $t->http_start('GET', search_path()) } 1 .. 10;
rst_handle($_) for map { $t->http_start('GET', search_path()) } 1 .. 10;
my @r = $t->http_finish(@h);
is(join(',', grep { $_ != 200 } map { $_->{status} // 0 } @r), '',
   'Redis stalled: 10 searches answered from the database (10 more reset)');
kill 'CONT', $t->redis_pid;
ok(wait_redis_back(), 'Redis resumed: the cache is used again');

# ----------------------------------------- cache reads, Redis stopped

$t->redis_stop();
@h = map { $t->http_start('GET', search_path()) } 1 .. 10;
rst_handle($_) for map { $t->http_start('GET', search_path()) } 1 .. 10;
@r = $t->http_finish(@h);
is(join(',', grep { $_ != 200 } map { $_->{status} // 0 } @r), '',
   'Redis stopped: 10 searches answered from the database');
$t->redis_start();
ok(wait_redis_back(), 'Redis started again: the cache is used again');

# -------------------------------------- cluster publishes from B to A

my ($s, $ep) = open_sse();
my $url = $ep->{data} // '';
like($url, qr/sessionId=[0-9a-f]{32}/, 'legacy stream on A');
registered($url);

sub post_b {
    my ($id) = @_;
    return $t2->http_start('POST', $url, content_type => 'application/json',
                           body => $t->json->encode({ jsonrpc => '2.0', id => $id,
                                                      method => 'ping' }));
}

sub subscribed_again {
    my ($x, $n) = @_;
    for (1 .. 100) {
        return 1 if $x->grep_log(qr/subscribed to .* again/) >= $n;
        sleep 0.1;
    }
    return 0;
}

$r = $t2->http_finish(post_b(1));
is($r->{status}, 202, 'a POST to B: 202');
ok($ma->read_until($s, sub { grep { ($_->{json}{id} // 0) == 1 } $ma->events($_[0]{body}) }, 5),
   'its reply comes on the stream held by A');

sub sensible_post {
    my ($r) = @_;
    my $st = $r->{status} // 0;
    return 1 if $st == 202;
    # 404: Redis could not say where the stream is (the zone answers alone)
    return ($st == 503 || $st == 404) && ref $r->{json} eq 'HASH' && ref $r->{json}{error} eq 'HASH';
}

# Redis stalled during publishes: the reply times out (it may be lost)
kill 'STOP', $t->redis_pid;
@h = map { post_b(100 + $_) } 1 .. 5;
rst_handle($_) for map { post_b(200 + $_) } 1 .. 5;
@r = $t2->http_finish(@h);
is(scalar(grep { !sensible_post($_) } @r), 0,
   'Redis stalled: POSTs to B answered 202 or 503 (5 more reset)')
    or diag(join ' ', map { $_->{status} // 'none' } @r);
kill 'CONT', $t->redis_pid;

# B's connection cut while POSTs wait for their bodies: Redis has told B
# where the stream is; the bodies arrive, then the connection is killed,
# and B (held meanwhile) writes the PUBLISHes before it reads the end of
# its Redis connection: the second write fails inside cluster_publish()
sub post_b_headers {
    my ($id) = @_;
    my $req = $t2->_request_bytes('POST', $url, content_type => 'application/json',
                                  body => $t->json->encode({ jsonrpc => '2.0', id => $id,
                                                             method => 'ping' }));
    my $i = index($req, "\r\n\r\n") + 4;
    my $h = $t2->http_start('POST', $url, content_type => 'application/json',
                            headers => [ 'Content-Length' => length($req) - $i ]);
    $h->{body} = substr($req, $i);
    return $h;
}

for my $round (1 .. $ROUNDS) {
    # B has its command connection again (it reconnects after a failure)
    for (1 .. 50) {
        my $x = $t2->http_finish(post_b(1000 + $round));
        last if ($x->{status} // 0) == 202;
        sleep 0.1;
    }

    my @keep = map { post_b_headers(10000 * $round + $_) } 1 .. 3;
    my @drop = map { post_b_headers(10000 * $round + 100 + $_) } 1 .. 6;
    sleep 0.3;
    kill 'STOP', $wb;
    # the reset ones first: the second PUBLISH is the one that fails
    for my $h (@drop, @keep) {
        syswrite($h->{sock}, $h->{body});
    }
    rst_handle($_) for @drop;
    sleep 0.05;
    $t->redis_cli('CLIENT', 'KILL', 'TYPE', 'normal');
    sleep 0.05;
    kill 'CONT', $wb;

    @r = $t2->http_finish(@keep);
    is(scalar(grep { !sensible_post($_) } @r), 0,
       "round $round: POSTs to B while its Redis connection is cut: 202 or 503")
        or diag(join ' ', map { $_->{status} // 'none' } @r);
    is(worker_pid($t2), $wb, "round $round: B's worker alive");
}
my $cut = () = $t2->grep_log(qr/Redis failed, the reply for legacy SSE stream/);
diag("publishes failed while being written: $cut");

# the server stopped for good while POSTs come
$t->redis_stop();
@h = map { post_b(50000 + $_) } 1 .. 5;
rst_handle($_) for map { post_b(51000 + $_) } 1 .. 5;
@r = $t2->http_finish(@h);
is(scalar(grep { !sensible_post($_) } @r), 0, 'Redis stopped: POSTs to B: 202 or 503')
    or diag(join ' ', map { $_->{status} // 'none' } @r);

# ---------------------------------------------------- Redis back

$t->redis_start();
ok(wait_redis_back(), 'Redis back: the cache is used again');
close $s->{sock};
($s, $ep) = open_sse();
$url = $ep->{data} // '';
registered($url);
my $ok = 0;
for (1 .. 100) {
    my $x = $t2->http_finish(post_b(7));
    if (($x->{status} // 0) == 202
        && $ma->read_until($s, sub { grep { ($_->{json}{id} // 0) == 7 } $ma->events($_[0]{body}) }, 1))
    {
        $ok = 1;
        last;
    }
    sleep 0.1;
}
ok($ok, 'Redis back: a POST to B reaches the stream on A again');
close $s->{sock};

is($t->get_json('/health')->{status}, 200, 'A: health 200');
is($t2->get_json('/health')->{status}, 200, 'B: health 200');
is(worker_pid($t), $wa, 'A: the same worker all along');
is(worker_pid($t2), $wb, 'B: the same worker all along');

my ($fa1, $fb1) = (fds($wa), fds($wb));
for (1 .. 50) {
    last if $fa1 <= $fa0 && $fb1 <= $fb0;
    sleep 0.1;
    ($fa1, $fb1) = (fds($wa), fds($wb));
}
cmp_ok($fa1, '<=', $fa0, "A: descriptors back to the baseline ($fa1, $fa0 before)");
cmp_ok($fb1, '<=', $fb0, "B: descriptors back to the baseline ($fb1, $fb0 before)");
my @b = $t2->alerts;
ok(!@b, 'B: no alerts') or diag(join "\n", @b[0 .. ($#b < 9 ? $#b : 9)]);
