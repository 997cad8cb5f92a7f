#!/usr/bin/perl

# Pool limits: never more than confhaven_pg_pool_size connections per worker
# (20 concurrent requests on a pool of 3 all succeed, queued), idle
# connections are closed after confhaven_pg_keepalive_timeout, and with
# confhaven_pg_queue_size 0 a request that finds every connection busy gets
# 503 at once (while one that finds a free connection is served).
#
# confhaven.api_session(bigint) is wrapped in this file's database: it sleeps
# confhaven.test_delay.seconds, records (backend pid, start, end) in
# confhaven.test_calls, then calls a copy of the original.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);

use ConfHaven::Test;

my $SLUG = 'community-developer-connect-2027';

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(1)->plan(19);

$t->db();
$t->psql(<<'SQL');
DO $do$ BEGIN
    EXECUTE replace(pg_get_functiondef('confhaven.api_session(bigint)'::regprocedure),
                    'api_session', 'api_session_orig');
END $do$;
CREATE TABLE confhaven.test_delay (seconds float8 NOT NULL);
INSERT INTO confhaven.test_delay VALUES (0);
CREATE TABLE confhaven.test_calls (pid int, t0 timestamptz, t1 timestamptz);
CREATE OR REPLACE FUNCTION confhaven.api_session(id bigint) RETURNS json
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_t0 timestamptz := clock_timestamp();
BEGIN
    PERFORM pg_sleep((SELECT seconds FROM confhaven.test_delay));
    INSERT INTO confhaven.test_calls VALUES (pg_backend_pid(), v_t0, clock_timestamp());
    RETURN confhaven.api_session_orig(api_session.id);
END
$$;
SQL

sub delay { $t->psql("UPDATE confhaven.test_delay SET seconds = $_[0]") }

sub conf {
    my (%d) = @_;
    my $extra = join '', map { "    $_ $d{$_};\n" } sort keys %d;
    return <<"EOF";
confhaven_pg_server "%%DSN%%";
$extra
server {
    listen 127.0.0.1:%%PORT_1%%;
    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF
}

sub err_code {
    my ($r) = @_;
    return ref $r->{json} eq 'HASH' && ref $r->{json}{error} eq 'HASH'
        ? $r->{json}{error}{code} : undef;
}

sub backends {
    return $t->psql("SELECT count(*) FROM pg_stat_activity "
                    . "WHERE application_name = 'confhaven' AND datname = current_database()");
}

# ------------------------------------------- pool 3, 20 concurrent requests

$t->write_conf(conf('confhaven_pg_pool_size' => 3,
                    'confhaven_pg_queue_timeout' => '30s',
                    'confhaven_pg_keepalive_timeout' => '1s'));
$t->run();

my $imp = $t->import_file($SLUG, 'sessionize-all_community-developer-connect-2027.json',
                          name => 'Community Developer Connect 2027',
                          timezone => 'Europe/London');
is($imp->{status}, 200, 'sample imported') or diag($imp->{body});

my $s = $t->get_json("/api/sessions?conference=$SLUG&limit=20");
my @ids = map { $_->{id} } @{ ref $s->{json} eq 'HASH' ? $s->{json}{sessions} : [] };
is(scalar @ids, 20, '20 session ids');

delay(0.5);
my $t0 = time();
my @h = map { $t->http_start('GET', "/api/sessions/$_", timeout => 40) } @ids;
my $max = 0;
while (time() - $t0 < 3) {      # 20 x 0.5 s on 3 connections take >= 3.5 s
    my $n = backends();
    $max = $n if $n > $max;
    sleep 0.1;
}
my @r = $t->http_finish(@h);
# idle connections now, before the checks below give the 1 s keepalive
# timeout a chance to close them (a slow machine, make test-sanitize)
my $idle = backends();

cmp_ok($max, '<=', 3, "connections seen in pg_stat_activity while 20 requests run: $max <= 3");
is($max, 3, 'the pool was used fully (3 connections)');
is(scalar(grep { ($_->{status} // 0) == 200 } @r), 20, 'all 20 requests: 200')
    or diag(join "\n", map { ($_->{status} // 'none') . ' ' . ($_->{body} // '') }
                       grep { ($_->{status} // 0) != 200 } @r);
is_deeply([map { ref $_->{json} eq 'HASH' ? $_->{json}{id} : undef } @r], \@ids,
          'each got its own session');
is($t->psql('SELECT count(*) FROM confhaven.test_calls'), 20, '20 function calls recorded');
cmp_ok($t->psql('SELECT count(DISTINCT pid) FROM confhaven.test_calls'), '<=', 3,
       'calls ran on at most 3 backends');
my $overlap = $t->psql(<<'SQL');
SELECT max((SELECT count(*) FROM confhaven.test_calls b
             WHERE b.t0 <= a.t0 AND b.t1 > a.t0))
  FROM confhaven.test_calls a
SQL
cmp_ok($overlap, '<=', 3, "at most 3 calls overlapped in time ($overlap)");

# ----------------------------------------------------- keepalive timeout 1s

cmp_ok($idle, '>=', 1, "idle connections right after the burst ($idle)");
sleep 2.5;
is(backends(), 0, 'idle connections closed after confhaven_pg_keepalive_timeout 1s');
delay(0);
is($t->get_json("/api/sessions/$ids[0]")->{status}, 200, 'next request reconnects: 200');

$t->stop();

# ---------------------------------------------------------- queue size 0

delay(0);
$t->write_conf(conf('confhaven_pg_pool_size' => 2,
                    'confhaven_pg_queue_size' => 0));
$t->run();

my $f = $t->get_json('/api/conferences');
is($f->{status}, 200, 'queue_size 0, no connection busy: request served')
    or diag($f->{body});
$f = $t->get_json('/api/conferences');
is($f->{status}, 200, 'queue_size 0, idle pooled connection: request served')
    or diag($f->{body});

delay(3);
@h = map { $t->http_start('GET', "/api/sessions/$_") } @ids[0, 1];
sleep 0.3;
$t0 = time();
my $b = $t->get_json('/api/conferences');
my $tb = time() - $t0;
is($b->{status}, 503, 'queue_size 0, both connections busy: 503');
is(err_code($b), 'database_busy', 'error code database_busy');
like($b->{headers}{'retry-after'} // '', qr/^\d+$/, 'Retry-After header');
cmp_ok($tb, '<', 1, 'answered at once (no waiting)');
@r = $t->http_finish(@h);
is(scalar(grep { ($_->{status} // 0) == 200 } @r), 2,
   'queue_size 0: the 2 requests that got a connection: 200')
    or diag(join "\n", map { ($_->{status} // 'none') . ' ' . ($_->{body} // '') } @r);
