#!/usr/bin/perl

# Malformed JSON-RPC at /mcp (three workers), on both wires: parse errors,
# invalid requests, wrong types, huge ids, deep nesting, 1 MiB strings,
# invalid UTF-8 and NUL escapes; each gets the right status and JSON-RPC
# code, and never a 500.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;
use ConfHaven::MCP;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(3)->plan(47);

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";

server {
    listen 127.0.0.1:%%PORT_1%%;
    client_max_body_size 4m;
    client_body_buffer_size 16k;
    confhaven_mcp_max_body_size 4m;    # the 1 MiB strings below

    location /mcp {
        confhaven_mcp on;
    }

    location /small/mcp {
        confhaven_mcp on;
        client_max_body_size 64k;
    }
}
EOF
$t->run();

my $m = ConfHaven::MCP->new($t);
my ($sid) = $m->initialize('2025-11-25');
ok($sid, 'session');

my $fives = 0;

sub raw {
    my ($body, %o) = @_;
    my $r = $m->post($body, session => $sid, %o);
    $fives++ if !defined $r->{status} || $r->{status} >= 500;
    return $r;
}

sub code { my ($r) = @_; return [$r->{status}, $r->{json}{error}{code}] }


# ---- parse errors: 400 -32700, id null

for my $c (['{', 'truncated object'], ['', 'empty body'], ['{}x', 'trailing garbage'],
           ["{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",}", 'trailing comma'],
           ['{"jsonrpc":"2.0","id":1,"method":"p\xffng"}', 'invalid UTF-8 byte'],
           ["{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xc0\xafping\"}", 'overlong UTF-8'],
           ['{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"\ud800"}}', 'lone surrogate escape'],
           ['{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"a\u0000b"}}', 'NUL escape'],
           ['{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"ping"}', 'id past 64 bits'],
           ['[' x 3000 . ']' x 3000, 'nesting 3000 deep'])
{
    my $r = raw($c->[0]);
    is_deeply([@{code($r)}, $r->{json} ? $r->{json}{id} : 'no json'], [400, -32700, undef],
              "$c->[1]: 400 -32700, id null");
}


# ---- invalid requests: 400 -32600

for my $c (['null', 'null'], ['42', 'a number'], ['"ping"', 'a string'], ['true', 'a boolean'],
           ['{"id":1,"method":"ping"}', 'no jsonrpc'],
           ['{"jsonrpc":"1.0","id":1,"method":"ping"}', 'jsonrpc 1.0'],
           ['{"jsonrpc":2.0,"id":1,"method":"ping"}', 'jsonrpc as a number'],
           ['{"jsonrpc":"2.0","id":1}', 'no method'],
           ['{"jsonrpc":"2.0","id":1,"method":42}', 'numeric method'],
           ['{"jsonrpc":"2.0","id":1,"method":""}', 'empty method'],
           ['{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}', 'params a string'],
           ['{"jsonrpc":"2.0","id":1.5,"method":"ping"}', 'fractional id'],
           ['{"jsonrpc":"2.0","id":null,"method":"ping"}', 'null id'],
           ['{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}', 'object id'],
           ['{"jsonrpc":"2.0","id":true,"method":"ping"}', 'boolean id'])
{
    my $r = raw($c->[0]);
    is_deeply(code($r), [400, -32600], "$c->[1]: 400 -32600");
}

my $r = raw('{"jsonrpc":"1.0","id":"keep","method":"ping"}');
is($r->{json}{id}, 'keep', 'invalid request with a valid id: id echoed');

$r = raw('{"jsonrpc":"2.0","id":3,"method":"ping","params":[1,2]}');
is_deeply([@{code($r)}, $r->{json}{id}], [200, -32602, 3], 'params as an array: -32602');


# ---- ids

$r = raw('{"jsonrpc":"2.0","id":9223372036854775807,"method":"ping"}');
like($r->{body}, qr/"id":9223372036854775807\b/, 'largest 64-bit id: echoed exactly');
$r = raw('{"jsonrpc":"2.0","id":-9223372036854775808,"method":"ping"}');
like($r->{body}, qr/"id":-9223372036854775808\b/, 'smallest 64-bit id: echoed exactly');
my $long = 'i' x 10000;
$r = raw(qq({"jsonrpc":"2.0","id":"$long","method":"ping"}));
is($r->{json}{id}, $long, '10000-character string id: echoed');
$r = raw('{"jsonrpc":"2.0","id":"\u00e9\u4e2d","method":"ping"}');
is($r->{json}{id}, "\x{e9}\x{4e2d}", 'non-ASCII string id: echoed');


# ---- deep nesting and big values inside valid messages

my $deep = '{"a":' x 1000 . '1' . '}' x 1000;
$r = raw(qq({"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":$deep}}));
is_deeply([$r->{status}, $r->{json}{result}], [200, {}], '1000-deep params: ping answers');

$r = raw(qq({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_sessions","arguments":$deep}}));
ok($r->{json}{result}{isError}, '1000-deep arguments: a tool error');

my $mib = 'x' x (1024 * 1024);
$r = raw(qq({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_sessions","arguments":{"query":"$mib"}}}));
ok($r->{status} == 200 && $r->{json}{result}{isError}
   && $r->{json}{result}{content}[0]{text} =~ /too long/,
   '1 MiB query (body spilled to a file): isError "too long"');

$r = raw(qq({"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"$mib"}}));
is_deeply([$r->{status}, $r->{json}{result}], [200, {}], '1 MiB string in params: ping answers');

$r = raw(qq({"jsonrpc":"2.0","id":"$mib","method":"ping"}));
is(length($r->{json}{id} // ''), 1024 * 1024, '1 MiB string id: echoed');

$r = raw(qq({"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"$mib"}}),
         path => '/small/mcp');
is($r->{status}, 413, 'body over client_max_body_size: 413');

$r = raw(qq({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"$mib"}}));
is_deeply(code($r), [200, -32602], '1 MiB tool name: -32602');

$r = raw(qq({"jsonrpc":"2.0","id":1,"method":"$mib"}));
is_deeply(code($r), [200, -32601], '1 MiB method name: -32601');


# ---- wrong types in tool calls

$r = raw('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_session","arguments":[1]}}');
ok($r->{json}{result}{isError}, 'arguments as an array: isError');
$r = raw('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_session","arguments":{"session_id":{"id":1}}}}');
ok($r->{json}{result}{isError}, 'session_id as an object: isError');
$r = raw('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_session","arguments":{"session_id":1e300}}}');
ok($r->{json}{result}{isError}, 'session_id 1e300: isError');
$r = raw('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_sessions","arguments":{"query":"a\tb\u0001"}}}');
ok($r->{json}{result}{isError}, 'control character in query: isError');


# ---- the 2026 wire sees the same

$r = $m->post('{', version => '2026-07-28');
is_deeply(code($r), [400, -32700], '2026 wire: parse error');
$r = $m->post('{"jsonrpc":"2.0","id":1.5,"method":"tools/list","params":{"_meta":{}}}',
              version => '2026-07-28');
is_deeply(code($r), [400, -32600], '2026 wire: fractional id');

is($fives, 0, 'never a 5xx');
