#!/usr/bin/perl

# The stateless 2026-07-28 wire on the same /mcp endpoint (four workers):
# server/discover, resultType and cache hints, the validation order and
# error codes (400/-32602 for _meta, 400/-32020 header mismatch including
# Mcp-Method, Mcp-Name and Mcp-Param-* with the strict base64 form,
# 400/-32022 with supported versions, 404/-32601 for removed and unknown
# methods), error ids echoed, Mcp-Session-Id ignored, GET/DELETE 405.

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;
use ConfHaven::MCP;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(4)->plan(66);

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";

server {
    listen 127.0.0.1:%%PORT_1%%;

    location /mcp {
        confhaven_mcp on;
    }

    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF
$t->run();

my $r = $t->import_file('scottish-summit-2026',
                        'sessionize-all_scottish-summit-2026.json',
                        name => 'Scottish Summit 2026',
                        timezone => 'Europe/London');
is($r->{status}, 200, 'import');

my $m = ConfHaven::MCP->new($t);

sub err { my ($r) = @_; return [$r->{status}, $r->{json}{error}{code}] }


# ---- server/discover

$r = $m->modern('server/discover', {});
is($r->{status}, 200, 'discover: 200');
my $d = $r->{json}{result} // {};
is($d->{resultType}, 'complete', 'discover: resultType');
is_deeply($d->{supportedVersions},
          [qw(2026-07-28 2025-11-25 2025-06-18 2025-03-26 2024-11-05)],
          'discover: every version we serve');
ok(ref $d->{capabilities}{tools} eq 'HASH', 'discover: tools capability');
is($d->{_meta}{'io.modelcontextprotocol/serverInfo'}{name}, 'confhaven', 'discover: serverInfo in _meta');
ok(defined $d->{ttlMs} && $d->{ttlMs} =~ /^\d+$/, 'discover: ttlMs');
is($d->{cacheScope}, 'private',
   'discover: cacheScope private (MCP Apps: it differs per client)');
ok(!exists $r->{headers}{'mcp-session-id'}, 'no session id minted');

my $meta = $m->meta;
delete $meta->{'io.modelcontextprotocol/clientInfo'};
$r = $m->modern('server/discover', { _meta => $meta });
is($r->{status}, 200, 'discover without clientInfo: 200');


# ---- lists, calls

my @orders;
for (1 .. 3) {
    $r = $m->modern('tools/list', {});
    push @orders, join ',', map { $_->{name} } @{ $r->{json}{result}{tools} // [] };
}
is($orders[0], 'search_sessions,get_session,list_conferences,'
             . 'send_calendar_invite,get_organizer_analytics', 'tools/list');
is_deeply([@orders[1, 2]], [@orders[0, 0]], 'tools/list: the same order three times');
is_deeply([@{$r->{json}{result}}{qw(resultType cacheScope)}], ['complete', 'private'],
          'tools/list: resultType, cacheScope (private: MCP Apps differ per client)');
ok(($r->{json}{result}{ttlMs} // -1) >= 0, 'tools/list: ttlMs');

$r = $m->modern('tools/call', { name => 'search_sessions',
                                arguments => { query => 'agents', conference => 'scottish-summit-2026',
                                               include_past => JSON::PP::true, limit => 3 } });
is($r->{status}, 200, 'tools/call with Mcp-Param-Conference: 200');
is($r->{json}{result}{resultType}, 'complete', 'tools/call: resultType');
is($r->{json}{result}{structuredContent}{count}, 3, 'tools/call: results');

$r = $m->modern('tools/call', { name => 'search_sessions', arguments => {} });
ok($r->{status} == 200 && !$r->{json}{error}, 'first tool with {}: no JSON-RPC error');

$r = $m->modern('tools/call', { name => 'get_session', arguments => { session_id => 999999 } });
is($r->{json}{result}{isError}, JSON::PP::true, 'unknown session: isError');

$r = $m->modern('tools/call', { name => 'nope', arguments => {} });
is_deeply(err($r), [200, -32602], 'unknown tool: -32602');

$r = $m->modern('tools/list', {}, headers => ['Mcp-Session-Id' => 'whatever']);
ok($r->{status} == 200 && !exists $r->{headers}{'mcp-session-id'},
   'Mcp-Session-Id is ignored, never echoed');

$r = $m->post({ jsonrpc => '2.0', method => 'notifications/cancelled',
                params => { _meta => $m->meta } },
              version => '2026-07-28', headers => ['Mcp-Method' => 'notifications/cancelled']);
is($r->{status}, 202, 'notification: 202');


# ---- validation order and codes

$r = $m->modern('server/discover', {}, id => 'm1', no_meta => 1);
is_deeply(err($r), [400, -32602], '_meta missing (header says 2026-07-28): 400 -32602');
is($r->{json}{id}, 'm1', 'error echoes the id');

$meta = $m->meta;
delete $meta->{'io.modelcontextprotocol/clientCapabilities'};
$r = $m->modern('server/discover', { _meta => $meta });
is_deeply(err($r), [400, -32602], '_meta without clientCapabilities: -32602');

$r = $m->modern('server/discover', { _meta => { 'io.modelcontextprotocol/protocolVersion' => 7,
                                               'io.modelcontextprotocol/clientCapabilities' => {} } });
is_deeply(err($r), [400, -32602], 'numeric protocolVersion: -32602');

$r = $m->modern('server/discover', { _meta => $m->meta('io.modelcontextprotocol/protocolVersion' => 'v999.0.0') },
                id => 7);
is_deeply(err($r), [400, -32020], '_meta v999, header 2026-07-28: -32020');
is($r->{json}{id}, 7, 'integer id echoed');

$r = $m->modern('server/discover', {}, no_headers => 1, headers => ['Mcp-Method' => 'server/discover']);
is_deeply(err($r), [400, -32020], 'no MCP-Protocol-Version header: -32020');

$r = $m->modern('server/discover', { _meta => $m->meta('io.modelcontextprotocol/protocolVersion' => 'v999.0.0') },
                no_headers => 1,
                headers => ['MCP-Protocol-Version' => 'v999.0.0', 'Mcp-Method' => 'server/discover'],
                id => 'v');
is_deeply(err($r), [400, -32022], 'unsupported version: 400 -32022');
my $data = $r->{json}{error}{data} // {};
is($data->{requested}, 'v999.0.0', '-32022: requested echoed');
my %disc = map { $_ => 1 } @{ $d->{supportedVersions} };
ok(@{ $data->{supported} // [] } && !(grep { !$disc{$_} } @{ $data->{supported} }),
   '-32022: supported is a subset of discover');
is($r->{json}{id}, 'v', '-32022: id echoed');

$r = $m->modern('tools/list', { _meta => $m->meta('io.modelcontextprotocol/protocolVersion' => '2025-11-25') },
                no_headers => 1,
                headers => ['MCP-Protocol-Version' => '2025-11-25', 'Mcp-Method' => 'tools/list']);
is_deeply(err($r), [400, -32022], 'a session version in _meta: -32022');

# Mcp-Method
$r = $m->modern('tools/list', {}, no_headers => 1, headers => ['MCP-Protocol-Version' => '2026-07-28']);
is_deeply(err($r), [400, -32020], 'Mcp-Method missing: -32020');
$r = $m->modern('tools/list', {}, no_headers => 1,
                headers => ['MCP-Protocol-Version' => '2026-07-28', 'Mcp-Method' => 'prompts/list']);
is_deeply(err($r), [400, -32020], 'Mcp-Method mismatch: -32020');
$r = $m->modern('tools/list', {}, no_headers => 1,
                headers => ['MCP-Protocol-Version' => '2026-07-28', 'Mcp-Method' => 'TOOLS/LIST']);
is_deeply(err($r), [400, -32020], 'Mcp-Method TOOLS/LIST: values are case-sensitive');
$r = $m->modern('tools/list', {}, no_headers => 1,
                headers => ['mcp-protocol-version' => '2026-07-28', 'MCP-METHOD' => 'tools/list']);
is($r->{status}, 200, 'header names are case-insensitive');
$r = $m->modern('tools/list', {}, no_headers => 1,
                headers => ['MCP-Protocol-Version' => '2026-07-28',
                            'Mcp-Method' => $m->b64('tools/list')]);
is($r->{status}, 200, 'Mcp-Method in the base64 form');

# Mcp-Name
my $call = { name => 'list_conferences', arguments => {} };
$r = $m->modern('tools/call', $call, no_headers => 1,
                headers => ['MCP-Protocol-Version' => '2026-07-28', 'Mcp-Method' => 'tools/call']);
is_deeply(err($r), [400, -32020], 'Mcp-Name missing: -32020');
$r = $m->modern('tools/call', $call, no_headers => 1,
                headers => ['MCP-Protocol-Version' => '2026-07-28', 'Mcp-Method' => 'tools/call',
                            'Mcp-Name' => 'get_session']);
is_deeply(err($r), [400, -32020], 'Mcp-Name mismatch: -32020');
$r = $m->modern('tools/call', $call, no_headers => 1,
                headers => ['MCP-Protocol-Version' => '2026-07-28', 'Mcp-Method' => 'tools/call',
                            'Mcp-Name' => '  list_conferences  ']);
is($r->{status}, 200, 'Mcp-Name with surrounding spaces: trimmed, accepted');

# Mcp-Param-Conference (x-mcp-header)
sub with_conf {
    my ($conf, @h) = @_;
    return $m->modern('tools/call',
                      { name => 'search_sessions',
                        arguments => { (defined $conf ? (conference => $conf) : ()), limit => 1 } },
                      no_headers => 1,
                      headers => ['MCP-Protocol-Version' => '2026-07-28',
                                  'Mcp-Method' => 'tools/call',
                                  'Mcp-Name' => 'search_sessions', @h]);
}
$r = with_conf('Hello', 'Mcp-Param-Conference' => 'Hello');
ok($r->{status} == 200 && !$r->{json}{error}, 'literal value: accepted');
$r = with_conf('Hello', 'Mcp-Param-Conference' => '=?base64?SGVsbG8=?=');
ok($r->{status} == 200 && !$r->{json}{error}, 'base64 value: accepted');
$r = with_conf('Zürich 2026', 'Mcp-Param-Conference' => $m->b64('Zürich 2026'));
ok($r->{status} == 200 && !$r->{json}{error}, 'non-ASCII value in base64: accepted');
$r = with_conf('Hello', 'Mcp-Param-Conference' => '=?base64?SGVsbG8?=');
is_deeply(err($r), [400, -32020], 'base64 with bad padding: -32020');
$r = with_conf('Hello', 'Mcp-Param-Conference' => '=?base64?SGVs!!!bG8=?=');
is_deeply(err($r), [400, -32020], 'base64 with bad characters: -32020');
$r = with_conf('=?base64?SGVsbG8=', 'Mcp-Param-Conference' => '=?base64?SGVsbG8=');
ok($r->{status} == 200 && !$r->{json}{error}, 'no suffix: a literal, accepted');
$r = with_conf('SGVsbG8=?=', 'Mcp-Param-Conference' => 'SGVsbG8=?=');
ok($r->{status} == 200 && !$r->{json}{error}, 'no prefix: a literal, accepted');
$r = with_conf('Hello');
is_deeply(err($r), [400, -32020], 'argument without its header: -32020');
$r = with_conf(undef, 'Mcp-Param-Conference' => 'Hello');
is_deeply(err($r), [400, -32020], 'header without its argument: -32020');
$r = with_conf('Hello', 'Mcp-Param-Conference' => 'Hallo');
is_deeply(err($r), [400, -32020], 'header differs from the argument: -32020');
$r = with_conf('Hello', 'mcp-param-conference' => 'Hello');
is($r->{status}, 200, 'Mcp-Param header name is case-insensitive');


# ---- removed and unknown methods

for my $meth (qw(initialize ping logging/setLevel resources/subscribe
                 resources/unsubscribe unknown/method))
{
    $r = $m->modern($meth, {}, id => "x-$meth");
    is_deeply([@{err($r)}, $r->{json}{id}], [404, -32601, "x-$meth"], "$meth: 404 -32601");
}


# ---- other shapes

$r = $m->post([{ jsonrpc => '2.0', id => 1, method => 'tools/list', params => { _meta => $m->meta } }],
              version => '2026-07-28', headers => ['Mcp-Method' => 'tools/list']);
is_deeply(err($r), [400, -32600], 'batch on the 2026 wire: 400 -32600');

$r = $m->post({ jsonrpc => '2.0', id => 1, result => {} },
              version => '2026-07-28');
is_deeply(err($r), [400, -32600], 'a response from the client: 400');

$r = $t->http('GET', '/mcp', headers => ['MCP-Protocol-Version' => '2026-07-28',
                                         'Accept' => 'text/event-stream']);
is($r->{status}, 405, 'GET: 405');
$r = $t->http('DELETE', '/mcp', headers => ['MCP-Protocol-Version' => '2026-07-28']);
is($r->{status}, 405, 'DELETE: 405');

$r = $m->modern('tools/list', {}, accept => 'application/json');
is($r->{status}, 200, 'Accept is not enforced on the 2026 wire');

# concurrency across workers
my @h = map {
    $t->http_start('POST', '/mcp',
        body => JSON::PP->new->encode({ jsonrpc => '2.0', id => $_, method => 'tools/call',
                  params => { name => 'list_conferences', arguments => {}, _meta => $m->meta } }),
        content_type => 'application/json',
        headers => ['Accept' => 'application/json, text/event-stream',
                    'MCP-Protocol-Version' => '2026-07-28', 'Mcp-Method' => 'tools/call',
                    'Mcp-Name' => 'list_conferences'])
} 1 .. 20;
my @r = $t->http_finish(@h);
is(scalar(grep { ($_->{status} // 0) == 200 && $_->{json}{result} } @r), 20,
   '20 concurrent stateless tool calls: all answered');
is_deeply([map { $_->{json}{id} } @r], [1 .. 20], 'each with its own id');
