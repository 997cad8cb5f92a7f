#!/usr/bin/perl

# MCP tool calls read through the same cache as REST: a repeated
# search_sessions call is a HIT, concurrent identical calls share one
# database query, an import makes the next call see the new schedule, and
# with Redis down the tools still answer (BYPASS).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);

use ConfHaven::Test;
use ConfHaven::MCP;

my $SLUG = 'scottish-summit-2026';
my $FILE = 'sessionize-all_scottish-summit-2026.json';

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->worker_processes(1);
$t->private_redis();
$t->plan(17);

$t->db();
$t->psql(<<'SQL');
CREATE TABLE confhaven.test_calls (id bigserial PRIMARY KEY);
CREATE OR REPLACE FUNCTION confhaven.test_count() RETURNS void
LANGUAGE sql AS $$ INSERT INTO confhaven.test_calls DEFAULT VALUES $$;
-- count the calls of api_session behind the tool
DO $do$ BEGIN
    EXECUTE replace(pg_get_functiondef('confhaven.api_session(bigint)'::regprocedure),
                    'api_session', 'api_session_orig');
END $do$;
CREATE OR REPLACE FUNCTION confhaven.api_session(id bigint) RETURNS json
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM confhaven.test_count();
    PERFORM pg_sleep(0.5);
    RETURN confhaven.api_session_orig(api_session.id);
END
$$;
SQL

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";
confhaven_redis_server redis://%%REDIS%%;
server {
    listen 127.0.0.1:%%PORT_1%%;
    add_header X-Cache-Status $confhaven_cache_status always;
    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
        client_max_body_size 32m;
        client_body_buffer_size 32m;
    }
    location = /mcp {
        confhaven_mcp on;
    }
}
EOF
$t->run();

is($t->import_file($SLUG, $FILE, timezone => 'Europe/London',
                   name => 'Scottish Summit 2026')->{status}, 200, 'import');

my $m = ConfHaven::MCP->new($t, path => '/mcp');

sub call {
    my ($tool, $args) = @_;
    my $r = $m->modern('tools/call', { name => $tool, arguments => $args });
    my $res = ref $r->{json} eq 'HASH' ? $r->{json}{result} // {} : {};
    return ($r->{headers}{'x-cache-status'} // '', $res, $r);
}

my $args = { query => 'copilot agents', conference => $SLUG, include_past => JSON::PP::true() };

my ($cs1, $res1) = call('search_sessions', $args);
is($cs1, 'MISS', 'first search_sessions call: MISS');
ok(!$res1->{isError} && @{$res1->{structuredContent}{sessions} // []},
   'first call found sessions');

my ($cs2, $res2) = call('search_sessions', $args);
is($cs2, 'HIT', 'the same call again: HIT');
is_deeply($res2->{structuredContent}, $res1->{structuredContent},
          'the cached answer is the same answer');

# concurrent identical calls: one database query
my $id = $t->psql("SELECT min(id) FROM confhaven.sessions");
my @h;
for my $i (1 .. 6) {
    my $body = JSON::PP->new->canonical->encode({
        jsonrpc => '2.0', id => $i, method => 'tools/call',
        params => { name => 'get_session', arguments => { session_id => $id + 0 },
                    _meta => $m->meta } });
    push @h, $t->http_start('POST', '/mcp', body => $body,
                            content_type => 'application/json',
                            headers => [ 'Accept' => 'application/json, text/event-stream',
                                         'MCP-Protocol-Version' => '2026-07-28',
                                         'Mcp-Method' => 'tools/call',
                                         'Mcp-Name' => 'get_session' ]);
}
my @r = $t->http_finish(@h);
is(scalar(grep { ($_->{status} // 0) == 200 } @r), 6, 'six concurrent get_session calls: 200');
is(scalar(grep { ref $_->{json} eq 'HASH' && !$_->{json}{result}{isError} } @r), 6,
   'all six answered the session');
is($t->psql("SELECT count(*) FROM confhaven.test_calls"), 1,
   'one database query for six concurrent identical calls');

my ($cs3) = call('get_session', { session_id => $id + 0 });
is($cs3, 'HIT', 'get_session afterwards: HIT');

# an import is visible to the next tool call
my $old = $t->psql("SELECT title FROM confhaven.sessions WHERE id = $id");
my $json = $t->read_file($t->samples_dir() . "/$FILE");
my $ext = $t->psql("SELECT external_id FROM confhaven.sessions WHERE id = $id");
my $data = JSON::PP->new->decode($json);
for my $s (@{$data->{sessions}}) {
    $s->{title} = 'Renamed by the cache test' if $s->{id} eq $ext;
}
my $r = $t->http('POST', "/api/admin/conferences/$SLUG/import",
                 headers => { 'X-API-Key' => $t->admin_key() },
                 content_type => 'application/json',
                 body => JSON::PP->new->encode($data));
is($r->{status}, 200, 're-import with a changed title');
my ($cs4, $res4) = call('get_session', { session_id => $id + 0 });
is($cs4, 'MISS', 'get_session after the import: MISS');
is($res4->{structuredContent}{title}, 'Renamed by the cache test',
   'the tool sees the new title at once');
isnt($old, 'Renamed by the cache test', 'the title really changed');

# Redis down: tools still answer, from PostgreSQL
$t->redis_stop();
my $t0 = time();
my ($cs5, $res5, $r5) = call('search_sessions', $args);
is($r5->{status}, 200, 'Redis down: 200');
is($cs5, 'BYPASS', 'Redis down: BYPASS');
ok(!$res5->{isError} && @{$res5->{structuredContent}{sessions} // []},
   'Redis down: sessions found');
cmp_ok(time() - $t0, '<', 2, 'Redis down: answered quickly');
