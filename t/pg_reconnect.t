#!/usr/bin/perl

# PostgreSQL going away and coming back, on a private cluster of this file
# (so it can be stopped without disturbing other tests): while it is down,
# /health and the API answer 503 quickly (no hang); when it is back, requests
# succeed again without restarting nginx; connections the server killed
# while idle are replaced transparently (the module retries once on a fresh
# connection).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);

use ConfHaven::Test;

my $SLUG = 'community-developer-connect-2027';

my $t = ConfHaven::Test->new()->needs_module()->worker_processes(1);
$t->private_pg();
$t->plan(32);

# `deferred`: a request is read in the same event loop iteration as its
# accept, which lets the "killed while idle" case below reach the dead
# connection before nginx noticed it died
$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";
# the pool alone: no analytics writer taking connections on its timer
confhaven_events_buffer 0;
confhaven_pg_pool_size 4;
confhaven_pg_connect_timeout 2s;

server {
    listen 127.0.0.1:%%PORT_1%% deferred;
    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF
$t->run();

sub err_code {
    my ($r) = @_;
    return ref $r->{json} eq 'HASH' && ref $r->{json}{error} eq 'HASH'
        ? $r->{json}{error}{code} : undef;
}

sub timed {
    my ($path) = @_;
    my $t0 = time();
    my $r = $t->get_json($path, timeout => 20);
    $r->{elapsed} = time() - $t0;
    return $r;
}

sub backends {
    return $t->psql("SELECT count(*) FROM pg_stat_activity "
                    . "WHERE application_name = 'confhaven' AND datname = current_database()");
}

sub worker_pid {
    my $m = $t->pid;
    my @p = grep { /worker process/ } `ps --ppid $m -o pid=,args=`;
    return $p[0] =~ /^\s*(\d+)/ ? $1 : undef;
}

# ------------------------------------------------------------------ up

my $imp = $t->import_file($SLUG, 'sessionize-all_community-developer-connect-2027.json',
                          name => 'Community Developer Connect 2027',
                          timezone => 'Europe/London');
is($imp->{status}, 200, 'sample imported') or diag($imp->{body});

my $r = timed('/health');
is($r->{status}, 200, 'health 200');
is($r->{json}{database}{status}, 'ok', 'health: database ok');
is(timed('/api/conferences')->{status}, 200, 'conferences 200');
$r = timed("/api/sessions?q=azure&conference=$SLUG");
is($r->{status}, 200, 'search 200');

# -------------------------------------------------------- PostgreSQL down

$t->pg_stop('fast');

$r = timed('/health');
is($r->{status}, 503, 'PostgreSQL stopped: health 503');
is($r->{json}{status}, 'unavailable', 'health: status unavailable');
is($r->{json}{database}{status}, 'unavailable', 'health: database status unavailable');
cmp_ok($r->{elapsed}, '<', 3, 'health answered quickly (no hang)');

$r = timed('/api/conferences');
is($r->{status}, 503, 'PostgreSQL stopped: conferences 503');
is(err_code($r), 'database_unavailable', 'error code database_unavailable');
like($r->{headers}{'content-type'} // '', qr{^application/json}, '503 is JSON');
like($r->{headers}{'retry-after'} // '', qr/^\d+$/, 'Retry-After header');
cmp_ok($r->{elapsed}, '<', 3, 'conferences answered quickly (no hang)');

$r = timed("/api/sessions?q=azure&conference=$SLUG");
is(err_code($r), 'database_unavailable', 'search: 503 database_unavailable');
$r = timed('/api/sessions/1');
is(err_code($r), 'database_unavailable', 'session: 503 database_unavailable');

my ($n503, $slowest) = (0, 0);
for (1 .. 20) {
    $r = timed('/api/conferences');
    $n503++ if ($r->{status} // 0) == 503 && (err_code($r) // '') eq 'database_unavailable';
    $slowest = $r->{elapsed} if $r->{elapsed} > $slowest;
}
is($n503, 20, '20 more requests while down: all 503 database_unavailable');
cmp_ok($slowest, '<', 3, 'none of them hung');

# ------------------------------------------------------------- back up

$t->pg_start();
my $t0 = time();
my $ok = 0;
while (time() - $t0 < 15) {
    $r = timed('/api/conferences');
    if (($r->{status} // 0) == 200) { $ok = 1; last }
    sleep 0.2;
}
my $back = time() - $t0;
ok($ok, 'PostgreSQL started again: requests succeed without restarting nginx');
diag(sprintf 'recovered %.2f s after PostgreSQL was back', $back);
cmp_ok($back, '<', 15, 'recovered within 15 s');
is($r->{json}{count}, 1, 'conferences body after recovery');
$r = timed('/health');
is($r->{status}, 200, 'health 200 after recovery');
is($r->{json}{database}{status}, 'ok', 'health: database ok after recovery');
is(timed("/api/sessions?q=azure&conference=$SLUG")->{status}, 200, 'search 200 after recovery');

# --------------------------------------- idle connections killed by the server

# open a few connections, let them go idle
my @h = map { $t->http_start('GET', "/api/sessions?q=$_&conference=$SLUG") } qw(cloud data ai);
$t->http_finish(@h);
cmp_ok(backends(), '>=', 1, 'pooled idle connections exist');

my $killed = $t->psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                      . "WHERE application_name = 'confhaven' AND datname = current_database()");
cmp_ok($killed, '>=', 1, "pg_terminate_backend killed $killed idle connection(s)");
$r = timed('/api/conferences');
is($r->{status}, 200, 'next request after the kill: 200');

# kill them while the worker cannot notice (stopped), with a request
# already waiting: the request meets the dead connection first
my $wpid = worker_pid();
ok($wpid, 'worker pid');
my ($good, @bad) = (0);
for my $round (1 .. 5) {
    is(timed('/api/conferences')->{status}, 200, "round $round: warm-up 200") if $round == 1;
    kill 'STOP', $wpid;
    my $hd = $t->http_start('GET', '/api/conferences');
    $t->psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             . "WHERE application_name = 'confhaven' AND datname = current_database()");
    sleep 0.3;
    kill 'CONT', $wpid;
    my $x = $t->http_finish($hd);
    if (($x->{status} // 0) == 200) { $good++ }
    else { push @bad, ($x->{status} // 'none') . ' ' . ($x->{body} // '') }
}
is($good, 5, 'a request that meets a connection killed while idle succeeds (5 rounds)')
    or diag(join "\n", @bad);
my $retries = () = $t->grep_log(qr/retrying on a new connection/);
diag("module log: $retries retry(ies) on a new connection");
is(timed('/health')->{status}, 200, 'health 200 at the end');
cmp_ok(backends(), '<=', 4, 'no more connections than the pool size');
