#!/usr/bin/perl

# The PostgreSQL pool is non-blocking: one worker process keeps answering
# while slow queries run, a request that finds every connection busy waits
# at most confhaven_pg_queue_timeout (503 database_busy + Retry-After), and
# confhaven_pg_statement_timeout gives 504 timeout without breaking the
# connection.
#
# confhaven.api_session(bigint) is wrapped in this file's database by a
# function that first sleeps confhaven.test_delay.seconds, then calls a copy
# of the original (api_session_orig).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);

use ConfHaven::Test;

my $SLUG = 'community-developer-connect-2027';

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(1)->plan(33);

$t->db();
$t->psql(<<'SQL');
DO $do$ BEGIN
    -- a copy of the original (its body qualifies names by the function name)
    EXECUTE replace(pg_get_functiondef('confhaven.api_session(bigint)'::regprocedure),
                    'api_session', 'api_session_orig');
END $do$;
CREATE TABLE confhaven.test_delay (seconds float8 NOT NULL);
INSERT INTO confhaven.test_delay VALUES (0);
CREATE OR REPLACE FUNCTION confhaven.api_session(id bigint) RETURNS json
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_sleep((SELECT seconds FROM confhaven.test_delay));
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
    return $t->psql("SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity "
                    . "WHERE application_name = 'confhaven' AND datname = current_database()");
}

# ---------------------------------------------------------------- pool 8

$t->write_conf(conf('confhaven_pg_pool_size' => 8));
$t->run();

my $imp = $t->import_file($SLUG, 'sessionize-all_community-developer-connect-2027.json',
                          name => 'Community Developer Connect 2027',
                          timezone => 'Europe/London');
is($imp->{status}, 200, 'sample imported') or diag($imp->{body});

my $s = $t->get_json("/api/sessions?conference=$SLUG&limit=4");
my @ids = map { $_->{id} } @{ ref $s->{json} eq 'HASH' ? $s->{json}{sessions} : [] };
is(scalar @ids, 4, 'four session ids to ask for');

delay(3);
my @slow = map { $t->http_start('GET', "/api/sessions/$_") } @ids;
sleep 0.3;                                   # they are in flight now

my $h = $t->get_json('/health');
my $c = $t->get_json('/api/conferences');
is($h->{status}, 200, 'health answered while 4 slow queries run');
is($c->{status}, 200, 'conferences answered while 4 slow queries run');
is($c->{json}{count}, 1, 'conferences body');

my @r = $t->http_finish(@slow);
is(scalar(grep { ($_->{status} // 0) == 200 } @r), 4, 'all 4 slow requests: 200');
is_deeply([map { ref $_->{json} eq 'HASH' ? $_->{json}{id} : undef } @r], \@ids,
          'slow requests: the sessions asked for');
my ($min, $max) = (1e9, 0);
for (@r) { $min = $_->{elapsed} if $_->{elapsed} < $min; $max = $_->{elapsed} if $_->{elapsed} > $max }
cmp_ok($min, '>=', 2.9, 'the slow requests were slow (pg_sleep(3))');
cmp_ok($max, '<', 6, 'the 4 slow requests ran concurrently (not 4 x 3 s)');

# the fast requests were issued 0.3 s after the slow ones and must have been
# answered well before the slow ones finished: measure them directly
delay(3);
@slow = map { $t->http_start('GET', "/api/sessions/$_") } @ids;
sleep 0.3;
my $t0 = time();
$h = $t->get_json('/health');
my $th = time() - $t0;
$t0 = time();
$c = $t->get_json('/api/conferences');
my $tc = time() - $t0;
is($h->{status}, 200, 'second round: health 200');
is($h->{json}{database}{status}, 'ok', 'second round: health says database ok');
cmp_ok($th, '<', 1.5, 'health answered within 1.5 s while 3 s queries run');
is($c->{status}, 200, 'second round: conferences 200');
cmp_ok($tc, '<', 1.5, 'conferences answered within 1.5 s while 3 s queries run');
@r = $t->http_finish(@slow);
is(scalar(grep { ($_->{status} // 0) == 200 } @r), 4, 'second round: slow requests 200');
cmp_ok((sort { $a <=> $b } map { $_->{elapsed} } @r)[0], '>', 0.3 + $th + $tc,
       'slow requests finished after the fast ones');

$t->stop();

# ------------------------------------------- pool 2, queue timeout 500ms

delay(3);
$t->write_conf(conf('confhaven_pg_pool_size' => 2,
                    'confhaven_pg_queue_timeout' => '500ms'));
$t->run();

@slow = map { $t->http_start('GET', "/api/sessions/$_") } @ids[0, 1];
sleep 0.3;
$t0 = time();
my $b = $t->get_json('/api/conferences');
my $tb = time() - $t0;
is($b->{status}, 503, 'third request while 2 of 2 connections are busy: 503');
is(err_code($b), 'database_busy', '503 error code database_busy');
is(ref $b->{json} eq 'HASH' ? $b->{json}{error}{status} : undef, 503, 'JSON error status 503');
like($b->{headers}{'content-type'} // '', qr{^application/json}, '503 is JSON');
like($b->{headers}{'retry-after'} // '', qr/^\d+$/, 'Retry-After header');
cmp_ok($tb, '>=', 0.4, 'the request waited for the queue timeout');
cmp_ok($tb, '<', 1.5, 'answered in about the queue timeout (500ms), not after the slow queries');
@r = $t->http_finish(@slow);
is(scalar(grep { ($_->{status} // 0) == 200 } @r), 2, 'the 2 slow requests: 200');

$t->stop();

# ------------------------------------ statement timeout 1s, one connection

delay(0);
$t->write_conf(conf('confhaven_pg_pool_size' => 1,
                    'confhaven_pg_statement_timeout' => '1s'));
$t->run();

my $w = $t->get_json("/api/sessions/$ids[0]");
is($w->{status}, 200, 'warm-up request 200');
my $pid_before = backends();
like($pid_before // '', qr/^\d+$/, 'one pooled connection');

delay(3);
$t0 = time();
my $to = $t->get_json("/api/sessions/$ids[0]");
my $tt = time() - $t0;
is($to->{status}, 504, 'pg_sleep(3) with statement timeout 1s: 504');
is(err_code($to), 'timeout', '504 error code timeout');
like($to->{headers}{'content-type'} // '', qr{^application/json}, '504 is JSON');
cmp_ok($tt, '<', 2.5, '504 after about the statement timeout');

my $n = $t->get_json('/api/conferences');
is($n->{status}, 200, 'next request on the same worker: 200');
is(backends(), $pid_before, 'same PostgreSQL connection kept (still usable)');
delay(0);
$n = $t->get_json("/api/sessions/$ids[0]");
is($n->{status}, 200, 'the timed-out route works again');
