#!/usr/bin/perl

# The MCP amplification bounds (issue 7, finding 7): a JSON-RPC batch holds
# at most confhaven_mcp_max_batch messages (16 by default), a body jansson
# parses at most confhaven_mcp_max_body_size bytes (1m by default; 413 with
# a JSON-RPC error, with a Content-Length or chunked, on /mcp and /sse),
# and resources/read, prompts/get and completion/complete read through the
# cache like the tools: concurrent identical reads share one database
# query, a repeated one is a cache HIT.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;
use ConfHaven::MCP;

my $SLUG = 'scottish-summit-2026';
my $FILE = 'sessionize-all_scottish-summit-2026.json';

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->worker_processes(1);
$t->private_redis();
$t->plan(35);

$t->db();
$t->psql(<<'SQL');
CREATE TABLE confhaven.test_calls (id bigserial PRIMARY KEY);
CREATE OR REPLACE FUNCTION confhaven.test_count() RETURNS void
LANGUAGE sql AS $$ INSERT INTO confhaven.test_calls DEFAULT VALUES $$;
-- count the calls of api_session behind resources/read
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
    client_max_body_size 4m;
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

    location = /tight/mcp {
        confhaven_mcp on;
        confhaven_mcp_max_batch 3;
        confhaven_mcp_max_body_size 2k;
    }

    location /sse {
        confhaven_mcp_sse on;
        confhaven_mcp_max_body_size 2k;
    }
}
EOF
$t->run();

is($t->import_file($SLUG, $FILE, timezone => 'Europe/London',
                   name => 'Scottish Summit 2026')->{status}, 200, 'import');

my $m = ConfHaven::MCP->new($t);
my $tight = ConfHaven::MCP->new($t, path => '/tight/mcp');

sub code { my ($r) = @_; return [$r->{status}, ref $r->{json} eq 'HASH' ? $r->{json}{error}{code} : undef] }

sub emsg { my ($r) = @_; return ref $r->{json} eq 'HASH' ? $r->{json}{error}{message} // '' : '' }

sub pings {
    my ($n) = @_;
    return [map { { jsonrpc => '2.0', id => $_, method => 'ping' } } 1 .. $n];
}


# ---- batches

my ($sid) = $m->initialize('2025-03-26');
ok($sid, '2025-03-26 session');

my $r = $m->post(pings(16), session => $sid, version => '2025-03-26');
is($r->{status}, 200, 'a batch of 16 (the default bound): 200');
is(ref $r->{json} eq 'ARRAY' ? scalar @{$r->{json}} : 0, 16, 'a batch of 16: 16 answers');

$r = $m->post(pings(17), session => $sid, version => '2025-03-26');
is_deeply(code($r), [400, -32600], 'a batch of 17: 400 -32600');
like(emsg($r), qr/1 to 16 messages/, 'the message names the bound');

$r = $m->post(pings(64), session => $sid, version => '2025-03-26');
is_deeply(code($r), [400, -32600], 'a batch of 64 (the old bound): 400 -32600');

$r = $tight->post(pings(3), session => $sid, version => '2025-03-26');
is(ref $r->{json} eq 'ARRAY' ? scalar @{$r->{json}} : 0, 3,
   'confhaven_mcp_max_batch 3: a batch of 3 answers');
$r = $tight->post(pings(4), session => $sid, version => '2025-03-26');
is_deeply(code($r), [400, -32600], 'confhaven_mcp_max_batch 3: a batch of 4 is refused');
like(emsg($r), qr/1 to 3 messages/, 'and says 1 to 3');

# a mistyped call in a batch gets its own -32602, the others run
$r = $m->post([{ jsonrpc => '2.0', id => 'bad', method => 'tools/call', params => { name => 42 } },
               { jsonrpc => '2.0', id => 'good', method => 'ping' }],
              session => $sid, version => '2025-03-26');
my %by = map { ($_->{id} // '') => $_ } @{ ref $r->{json} eq 'ARRAY' ? $r->{json} : [] };
ok(($by{bad}{error}{code} // 0) == -32602 && ($by{bad}{error}{message} // '') =~ /name must be a string/
   && ref $by{good}{result} eq 'HASH', 'a batch: the mistyped call -32602, the ping answered');

# a refused batch ran nothing
$r = $m->post([ map { { jsonrpc => '2.0', id => $_, method => 'tools/call',
                        params => { name => 'get_session', arguments => { session_id => 1 } } } }
                1 .. 17 ], session => $sid, version => '2025-03-26');
is($r->{status}, 400, 'a batch of 17 tool calls: 400');


# ---- bodies

my $pad = 'x' x (1024 * 1024);
$r = $m->post(qq({"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"$pad"}}),
              session => $sid, version => '2025-03-26');
is_deeply(code($r), [413, -32600], 'a body past 1m (the default bound): 413 -32600');
like(emsg($r), qr/at most 1048576 bytes/, 'the 413 names the bound');
like($r->{headers}{'content-type'} // '', qr{^application/json}, 'the 413 is JSON');

my $under = 'x' x (1024 * 1024 - 200);
$r = $m->post(qq({"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"$under"}}),
              session => $sid, version => '2025-03-26');
is_deeply([$r->{status}, ref $r->{json} eq 'HASH' ? $r->{json}{result} : undef], [200, {}],
          'a body just under 1m: answered');

my $big = qq({"jsonrpc":"2.0","id":7,"method":"ping","params":{"pad":") . ('y' x 3000) . '"}}';
$r = $tight->post($big, session => $sid, version => '2025-03-26');
is_deeply(code($r), [413, -32600], 'confhaven_mcp_max_body_size 2k: a 3k body is 413');

my $small = qq({"jsonrpc":"2.0","id":7,"method":"ping","params":{"pad":") . ('y' x 1500) . '"}}';
$r = $tight->post($small, session => $sid, version => '2025-03-26');
is_deeply([$r->{status}, ref $r->{json} eq 'HASH' ? $r->{json}{result} : undef], [200, {}],
          'confhaven_mcp_max_body_size 2k: 1.5k answered');

# chunked: no Content-Length to refuse early, the body read is checked
my $chunked = sprintf("%x\r\n%s\r\n0\r\n\r\n", length $big, $big);
$r = $t->http('POST', '/tight/mcp', body => $chunked, no_content_length => 1,
              content_type => 'application/json',
              headers => ['Transfer-Encoding' => 'chunked',
                          'Accept' => 'application/json, text/event-stream',
                          'Mcp-Session-Id' => $sid, 'MCP-Protocol-Version' => '2025-03-26']);
is_deeply(code($r), [413, -32600], 'a chunked 3k body: 413 -32600');

# the 2026 wire
$r = $tight->post(qq({"jsonrpc":"2.0","id":7,"method":"server/discover","params":{"pad":")
                  . ('z' x 3000) . '"}}', version => '2026-07-28',
                  headers => ['Mcp-Method' => 'server/discover']);
is_deeply(code($r), [413, -32600], '2026 wire: a 3k body is 413');

# the connection stays usable after a refused body (keepalive)
$r = $tight->post($small, session => $sid, version => '2025-03-26');
is($r->{status}, 200, 'the next request is served');

# legacy /sse
my $sse = ConfHaven::MCP->new($t, path => '/sse');
my $s = $sse->open_stream('GET', '/sse', headers => ['Accept' => 'text/event-stream']);
$sse->read_until($s, sub { my @e = $sse->events($_[0]{body}); @e >= 1 }, 5);
my ($ep) = $sse->events($sse->response($s)->{body});
my $url = $ep ? $ep->{data} : '/sse/messages?sessionId=none';
$r = $t->post_json($url, $big);
is_deeply(code($r), [413, -32600], 'legacy /sse: a 3k body is 413');
$r = $t->post_json($url, $small);
is($r->{status}, 202, 'legacy /sse: 1.5k accepted');
close $s->{sock};


# ---- resources, prompts and completions read through the cache

sub calls { my $v = $t->psql('SELECT count(*) FROM confhaven.test_calls'); $v =~ s/\s+//g; return $v }

my $id = $t->psql("SELECT min(s.id) FROM confhaven.sessions s JOIN confhaven.conferences c"
                  . " ON c.id = s.conference_id WHERE c.slug = '$SLUG'");
$id =~ s/\s+//g;

my $read = sub {
    my ($rid) = @_;
    my $body = $t->json->encode({ jsonrpc => '2.0', id => $rid, method => 'resources/read',
                                  params => { uri => "confhaven://sessions/$id",
                                              _meta => $m->meta } });
    return $t->http_start('POST', '/mcp', body => $body, content_type => 'application/json',
                          headers => ['Accept' => 'application/json, text/event-stream',
                                      'MCP-Protocol-Version' => '2026-07-28',
                                      'Mcp-Method' => 'resources/read',
                                      'Mcp-Name' => "confhaven://sessions/$id"]);
};

my $before = calls();
my @rs = $t->http_finish(map { $read->($_) } 1 .. 4);
is(scalar(grep { ($_->{status} // 0) == 200 && $_->{json} && $_->{json}{result} } @rs), 4,
   'four concurrent resources/read: four answers');
is(calls() - $before, 1, 'four concurrent identical resources/read: one database query');
is_deeply([sort map { $_->{headers}{'x-cache-status'} // '' } @rs], [('MISS') x 4],
          'the four were cache misses');

($r) = $t->http_finish($read->(5));
is($r->{headers}{'x-cache-status'}, 'HIT', 'the next resources/read: a cache HIT');
is(calls() - $before, 1, 'and no database query');
is($r->{json}{result}{contents}[0]{uri}, "confhaven://sessions/$id", 'the HIT is the resource');

my $prompt = { name => 'plan_my_day', arguments => { conference => $SLUG, date => '2026-10-03' } };
$r = $m->modern('prompts/get', $prompt);
my $text = $r->{json}{result}{messages}[0]{content}{text} // '';
ok($r->{status} == 200 && $text =~ /plan my day/, 'prompts/get answers');
$r = $m->modern('prompts/get', $prompt);
is($r->{headers}{'x-cache-status'}, 'HIT', 'the same prompts/get again: a cache HIT');
is($r->{json}{result}{messages}[0]{content}{text}, $text, 'with the same text');

my $cc = { ref => { type => 'ref/prompt', name => 'plan_my_day' },
           argument => { name => 'conference', value => 'scot' } };
$r = $m->modern('completion/complete', $cc);
is_deeply($r->{json}{result}{completion}{values}, [$SLUG], 'completion/complete answers');
$r = $m->modern('completion/complete', $cc);
is($r->{headers}{'x-cache-status'}, 'HIT', 'the same completion again: a cache HIT');

# an unknown conference is an error, not cached, still answered
$r = $m->modern('prompts/get', { name => 'plan_my_day', arguments => { conference => 'nope-2030' } });
is($r->{json}{error}{code}, -32602, 'prompts/get of an unknown conference: -32602');
