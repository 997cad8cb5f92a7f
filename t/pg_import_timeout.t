#!/usr/bin/perl

# Imports run under confhaven_import_timeout instead of the (short)
# confhaven_pg_statement_timeout, and the connection goes back to the short
# one afterwards: the next slow query on the same connection still times
# out.
#
# import_schedule is wrapped by a function that sleeps
# confhaven.test_delay.seconds first; api_session likewise.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time);

use ConfHaven::Test;

my $SLUG = 'global-azure-linz-2024';

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(1)->plan(14);

$t->db();
$t->psql(<<'SQL');
DO $do$ BEGIN
    EXECUTE replace(pg_get_functiondef(
        'confhaven.import_schedule(text,text,text,text,text,text)'::regprocedure),
        'import_schedule', 'import_schedule_orig');
    EXECUTE replace(pg_get_functiondef('confhaven.api_session(bigint)'::regprocedure),
                    'api_session', 'api_session_orig');
END $do$;
CREATE TABLE confhaven.test_delay (seconds float8 NOT NULL);
INSERT INTO confhaven.test_delay VALUES (0);
CREATE OR REPLACE FUNCTION confhaven.import_schedule(
    slug text, name text, timezone text, location text, website text, body text)
RETURNS json LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_sleep((SELECT seconds FROM confhaven.test_delay));
    RETURN confhaven.import_schedule_orig(slug, name, timezone, location,
                                          website, body);
END
$$;
CREATE OR REPLACE FUNCTION confhaven.api_session(id bigint) RETURNS json
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_sleep((SELECT seconds FROM confhaven.test_delay));
    RETURN confhaven.api_session_orig(api_session.id);
END
$$;
SQL

sub delay { $t->psql("UPDATE confhaven.test_delay SET seconds = $_[0]") }

sub code { my ($r) = @_; ref $r->{json} eq 'HASH' ? $r->{json}{error}{code} : undef }

# one connection, so every request below reuses the import's connection
$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";
confhaven_pg_pool_size 1;
confhaven_pg_statement_timeout 1s;

server {
    listen 127.0.0.1:%%PORT_1%%;
    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
        confhaven_import_timeout 5s;
        client_max_body_size 32m;
        client_body_buffer_size 32m;
    }
    location /short/ {
        rewrite ^/short(/.*)$ $1 break;
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
        confhaven_import_timeout 1s;
    }
}
EOF
$t->run();

# an import slower than the statement timeout, within the import timeout
delay(1.5);
my $t0 = time();
my $r = $t->import_file($SLUG, 'sessionize-all_global-azure-linz-2024.json',
                        timezone => 'Europe/Vienna', name => 'Global Azure 2024 Linz');
is($r->{status}, 200, 'import slower than the statement timeout succeeds');
cmp_ok(time() - $t0, '>=', 1.4, 'the import really took longer than 1s');
is($r->{json}{sessions}{total}, 15, 'import result');

# the same connection is back on the 1s statement timeout
$r = $t->get_json('/api/sessions/1');
is($r->{status}, 504, 'a slow query after the import still times out');
is(code($r), 'timeout', 'timeout error code');

delay(0);
$r = $t->get_json('/api/sessions/1');
is($r->{status}, 200, 'and the connection still works');
is($t->psql("SELECT count(*) FROM pg_stat_activity "
            . "WHERE application_name = 'confhaven' AND datname = current_database()"),
   1, 'still one connection');

# an import slower than its own timeout fails clearly and changes nothing
delay(2);
my $before = $t->psql("SELECT title FROM confhaven.sessions ORDER BY id LIMIT 1");
$r = $t->http('POST', "/short/api/admin/conferences/$SLUG/import?timezone=Europe/Vienna",
              headers => { 'X-API-Key' => $t->admin_key() },
              content_type => 'application/json',
              body => $t->read_file($t->samples_dir() . '/sessionize-all_global-azure-linz-2024.json'));
is($r->{status}, 504, 'import slower than confhaven_import_timeout: 504');
is(code($r), 'timeout', 'import timeout error code');
is($t->psql("SELECT title FROM confhaven.sessions ORDER BY id LIMIT 1"), $before,
   'data unchanged');

# and the short import timeout did not stick to the connection either
delay(0.2);
$r = $t->get_json('/api/sessions/1');
is($r->{status}, 200, 'a 0.2s query after the timed-out import is fine');
delay(1.5);
$r = $t->get_json('/api/sessions/1');
is($r->{status}, 504, 'a 1.5s query still times out');
delay(0);
$r = $t->get_json('/health');
is($r->{status}, 200, 'health afterwards');
is($r->{json}{database}{status}, 'ok', 'database ok');
