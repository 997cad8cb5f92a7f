#!/usr/bin/perl

# MCP Streamable HTTP lifecycle (2024-11-05 .. 2025-11-25) at /mcp with four
# workers: initialize and version negotiation, Mcp-Session-Id minted once
# per session (visible ASCII, random) and known to every worker, 400
# without it, 404 when unknown or deleted, DELETE, MCP-Protocol-Version
# checks, Accept and Content-Type checks, GET/DELETE without a session,
# Host and Origin allow-lists (default and configured), and the variables.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);

use ConfHaven::Test;
use ConfHaven::MCP;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(4)->plan(64);

$t->write_conf(<<'EOF2');
confhaven_pg_server "%%DSN%%";
confhaven_mcp_zone mcp_sessions 1m;
confhaven_mcp_session_timeout 2s;

log_format mcp 'mcp session=$confhaven_mcp_session method=$confhaven_mcp_method '
               'trace=$confhaven_trace_id route=$confhaven_route';

server {
    listen 127.0.0.1:%%PORT_1%%;

    location /mcp {
        confhaven_mcp on;
        access_log %%TESTDIR%%/mcp.log mcp;
    }

    location /strict/mcp {
        confhaven_mcp on;
        confhaven_mcp_allowed_hosts mcp.example.com *.example.org;
        confhaven_mcp_allowed_origins https://app.example.com;
    }
}
EOF2
$t->run();

my $m = ConfHaven::MCP->new($t);


# ---- initialize and version negotiation

for my $v (qw(2024-11-05 2025-03-26 2025-06-18 2025-11-25)) {
    my ($sid, $r) = $m->initialize($v);
    is($r->{json}{result}{protocolVersion}, $v, "initialize $v: echoed");
}

my ($sid, $r) = $m->initialize('2099-01-01');
is($r->{status}, 200, 'unknown version: 200');
is($r->{json}{result}{protocolVersion}, '2025-11-25',
   'unknown version: our newest session version');

($sid, $r) = $m->initialize('2026-07-28');
is($r->{json}{result}{protocolVersion}, '2025-11-25',
   'initialize asking for 2026-07-28: 2025-11-25 (stateless has none)');

($sid, $r) = $m->initialize('2025-11-25');
my $res = $r->{json}{result} // {};
is($r->{status}, 200, 'initialize: 200');
like($r->{headers}{'content-type'}, qr{^application/json}, 'initialize: JSON');
like($sid // '', qr/^[0-9a-f]{32}$/, 'session id: 32 hex characters');
is($res->{serverInfo}{name}, 'confhaven', 'serverInfo.name');
ok(defined $res->{serverInfo}{version}, 'serverInfo.version');
ok(ref $res->{capabilities}{tools} eq 'HASH', 'tools capability');
ok(length($res->{instructions} // '') > 50, 'instructions');

my %ids = map { ($m->initialize('2025-06-18'))[0] => 1 } 1 .. 20;
is(scalar(keys %ids), 20, '20 initializes: 20 different session ids');

my $init_msg = { jsonrpc => '2.0', id => 'init-1', method => 'initialize',
                 params => { protocolVersion => '2025-06-18', capabilities => {},
                             clientInfo => { name => 'x', version => '1' } } };
$r = $m->post($init_msg);
is($r->{json}{id}, 'init-1', 'string id echoed');

$r = $m->post({ %$init_msg, params => { capabilities => {} } });
is($r->{json}{error}{code}, -32602, 'initialize without protocolVersion: -32602');


# ---- the session is known to every worker

my $ok = 0;
my %pids;
for my $i (1 .. 24) {
    $r = $m->request('ping', undef, session => $sid, version => '2025-11-25');
    $ok++ if $r->{status} == 200 && ref $r->{json}{result} eq 'HASH'
             && !%{$r->{json}{result}};
}
is($ok, 24, 'ping {} with the session, 24 times (four workers)');

my @h = map { $m->t->http_start('POST', '/mcp',
                  body => '{"jsonrpc":"2.0","id":' . $_ . ',"method":"ping"}',
                  content_type => 'application/json',
                  headers => ['Accept' => 'application/json, text/event-stream',
                              'Mcp-Session-Id' => $sid]) } 1 .. 16;
my @r = $m->t->http_finish(@h);
is(scalar(grep { ($_->{status} // 0) == 200 } @r), 16,
   '16 concurrent requests with the session: all 200');

$r = $m->request('ping', undef, session => $sid);
is($r->{headers}{'mcp-session-id'}, $sid, 'responses carry Mcp-Session-Id');

$r = $m->notify('notifications/initialized', undef, session => $sid);
is($r->{status}, 202, 'notification: 202');
is($r->{body}, '', 'notification: no body');

$r = $m->post({ jsonrpc => '2.0', id => 99, result => {} }, session => $sid);
is($r->{status}, 202, 'a client response: 202');


# ---- missing, unknown, deleted sessions

$r = $m->request('tools/list');
is($r->{status}, 400, 'no session: 400');
is($r->{json}{error}{code}, -32000, 'no session: JSON-RPC error');

$r = $m->request('tools/list', undef, session => 'f' x 32);
is($r->{status}, 404, 'unknown session: 404');

$r = $m->request('tools/list', undef, session => "bad\x01id");
is($r->{status}, 404, 'malformed session id: 404');

my ($gone) = $m->initialize('2025-11-25');
$r = $t->http('DELETE', '/mcp', headers => ['Mcp-Session-Id' => $gone]);
is($r->{status}, 200, 'DELETE with the session: 200');
$r = $m->request('tools/list', undef, session => $gone);
is($r->{status}, 404, 'after DELETE: 404');
$r = $t->http('DELETE', '/mcp', headers => ['Mcp-Session-Id' => $gone]);
is($r->{status}, 404, 'DELETE again: 404');

$r = $t->http('DELETE', '/mcp');
is($r->{status}, 405, 'DELETE without a session: 405');
$r = $t->http('GET', '/mcp', headers => ['Accept' => 'text/event-stream']);
is($r->{status}, 405, 'GET without a session: 405');
like($r->{headers}{allow} // '', qr/POST/, 'GET 405: Allow lists POST');
$r = $t->http('GET', '/mcp', headers => ['Accept' => 'text/event-stream',
                                         'Mcp-Session-Id' => 'a' x 32]);
is($r->{status}, 404, 'GET with an unknown session: 404');
$r = $t->http('PUT', '/mcp', body => '{}');
is($r->{status}, 405, 'PUT: 405');

# idle sessions expire (confhaven_mcp_session_timeout 2s)
my ($idle) = $m->initialize('2025-06-18');
sleep 4;
$r = $m->request('ping', undef, session => $idle);
is($r->{status}, 404, 'idle session expired: 404');


# ---- MCP-Protocol-Version

($sid) = $m->initialize('2025-06-18');
$r = $m->request('ping', undef, session => $sid, version => '2025-06-18');
is($r->{status}, 200, 'negotiated version header: 200');
$r = $m->request('ping', undef, session => $sid);
is($r->{status}, 200, 'no version header: 200 (the session knows)');
$r = $m->request('ping', undef, session => $sid, version => '1999-01-01');
is($r->{status}, 400, 'unsupported version header: 400');
$r = $m->request('ping', undef, session => $sid, version => '2025-03-26');
is($r->{status}, 200, 'another supported version header: accepted');


# ---- Accept and Content-Type

$r = $m->request('ping', undef, session => $sid, accept => 'application/json');
is($r->{status}, 406, 'Accept without text/event-stream: 406');
$r = $m->request('ping', undef, session => $sid, accept => '*/*');
is($r->{status}, 200, 'Accept */*: 200');
$r = $m->post('{"jsonrpc":"2.0","id":1,"method":"ping"}', session => $sid,
              content_type => 'text/plain');
is($r->{status}, 415, 'text/plain body: 415');
$r = $m->post('{"jsonrpc":"2.0","id":1,"method":"ping"}', session => $sid,
              content_type => 'application/json; charset=utf-8');
is($r->{status}, 200, 'application/json; charset=utf-8: 200');


# ---- Host and Origin

$r = $m->request('initialize', { protocolVersion => '2025-11-25', capabilities => {} },
                 host => 'evil.example.com');
is($r->{status}, 403, 'Host evil.example.com: 403');
is($r->{json}{error}{code}, -32600, '403 carries a JSON-RPC error');
$r = $m->request('initialize', { protocolVersion => '2025-11-25', capabilities => {} },
                 host => 'evil.example.com',
                 headers => ['Origin' => 'http://evil.example.com']);
is($r->{status}, 403, 'Host + Origin evil: 403');
$r = $m->request('initialize', { protocolVersion => '2025-11-25', capabilities => {} },
                 host => '127.0.0.1:' . $t->port(1),
                 headers => ['Origin' => 'http://127.0.0.1:' . $t->port(1)]);
is($r->{status}, 200, 'Host and Origin 127.0.0.1 with port: 200');
$r = $m->request('initialize', { protocolVersion => '2025-11-25', capabilities => {} },
                 headers => ['Origin' => 'http://evil.example.com']);
is($r->{status}, 403, 'good Host, evil Origin: 403');
$r = $m->request('initialize', { protocolVersion => '2025-11-25', capabilities => {} },
                 headers => ['Origin' => 'null']);
is($r->{status}, 403, 'Origin null: 403');
$r = $m->request('initialize', { protocolVersion => '2025-11-25', capabilities => {} },
                 host => '[::1]:8080');
is($r->{status}, 200, 'Host [::1]: 200');
$r = $t->http('GET', '/mcp', host => 'evil.example.com');
is($r->{status}, 403, 'GET from a bad host: 403');

my $init = { protocolVersion => '2025-11-25', capabilities => {} };
$r = $m->request('initialize', $init, path => '/strict/mcp');
is($r->{status}, 403, 'configured hosts: localhost refused');
$r = $m->request('initialize', $init, path => '/strict/mcp', host => 'MCP.example.com');
is($r->{status}, 200, 'configured host (case-insensitive): 200');
$r = $m->request('initialize', $init, path => '/strict/mcp', host => 'a.b.example.org');
is($r->{status}, 200, 'wildcard host: 200');
$r = $m->request('initialize', $init, path => '/strict/mcp', host => 'example.org.evil.com');
is($r->{status}, 403, 'wildcard does not match a longer name: 403');
$r = $m->request('initialize', $init, path => '/strict/mcp', host => 'mcp.example.com',
                 headers => ['Origin' => 'https://app.example.com']);
is($r->{status}, 200, 'configured origin: 200');
$r = $m->request('initialize', $init, path => '/strict/mcp', host => 'mcp.example.com',
                 headers => ['Origin' => 'https://app.example.com:8443']);
is($r->{status}, 200, 'configured origin without port allows any port');
$r = $m->request('initialize', $init, path => '/strict/mcp', host => 'mcp.example.com',
                 headers => ['Origin' => 'http://app.example.com']);
is($r->{status}, 403, 'other scheme: 403');
$r = $m->request('initialize', $init, path => '/strict/mcp', host => 'mcp.example.com',
                 headers => ['Origin' => 'https://mcp.example.com']);
is($r->{status}, 403, 'origin on an allowed host but not listed: 403');


# ---- variables

$r = $m->request('ping', undef, session => $sid,
                 headers => ['traceparent' => '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']);
is($r->{status}, 200, 'ping with traceparent');
$r = $m->request('tools/list', { _meta => { traceparent =>
                 '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } },
                 session => $sid);
is($r->{status}, 200, 'tools/list with _meta.traceparent');
# nginx writes the access log after the answer has gone out: wait for it
my $log = '';
for (1 .. 50) {
    $log = $t->read_file('mcp.log') // '';
    last if $log =~ /method=tools\/list trace=/ && $log =~ /method=ping trace=/;
    sleep 0.1;
}
like($log, qr/session=\Q$sid\E method=ping trace=0af7651916cd43dd8448eb211c80319c route=mcp/,
     'access log: session, method, trace id from the header');
like($log, qr/method=tools\/list trace=4bf92f3577b34da6a3ce929d0e0e4736/,
     'access log: trace id from params._meta');
