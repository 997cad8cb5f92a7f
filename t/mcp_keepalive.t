#!/usr/bin/perl

# MCP requests answered after a PostgreSQL round trip on a keep-alive
# connection with a second request pipelined behind: nginx frees the first
# request as soon as it is finalized (the connection goes on with the next
# one), so the transport must not touch its per-request state afterwards.
# Streamable HTTP (resources/list on the 2026-07-28 wire and in a session)
# and legacy SSE (POST /sse/messages). Under `make test-sanitize`
# AddressSanitizer turns such a use of freed memory into a report, which
# fails the "no alerts" test; here both answers must arrive in order.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;
use ConfHaven::MCP;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(1)->plan(13);

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";

server {
    listen 127.0.0.1:%%PORT_1%%;
    keepalive_timeout 30s;

    location /mcp {
        confhaven_mcp on;
    }

    location /sse {
        confhaven_mcp_sse on;
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
                        name => 'Scottish Summit 2026', timezone => 'Europe/London');
is($r->{status}, 200, 'import');

my $m = ConfHaven::MCP->new($t);
my $json = $t->json;

# request(PATH, MSG, HEADERS, CLOSE): the bytes of one POST
sub request {
    my ($path, $msg, $h, $close) = @_;
    return $t->_request_bytes('POST', $path, body => $json->encode($msg),
        content_type => 'application/json', keepalive => !$close,
        headers => [ 'Accept' => 'application/json, text/event-stream', @$h ]);
}

# responses(RAW): the HTTP responses of one connection, in order
sub responses {
    my ($raw) = @_;
    my @r;
    while ($raw =~ /\G(HTTP\/1\.1 (\d{3}).*?\r\n\r\n)/gcs) {
        my ($head, $status) = ($1, $2);
        my $body = '';
        if ($head =~ /^Content-Length:\s*(\d+)/mi) {
            $body = substr($raw, pos($raw), $1);
            pos($raw) += $1;
        } elsif ($head =~ /^Transfer-Encoding:\s*chunked/mi) {
            while ($raw =~ /\G([0-9a-fA-F]+)\r\n/gc) {
                my $n = hex $1;
                $body .= substr($raw, pos($raw), $n);
                pos($raw) += $n + 2;
                last if $n == 0;
            }
        }
        push @r, { status => $status, body => $body };
    }
    return @r;
}

sub result_of {
    my ($body) = @_;
    my ($data) = $body =~ /^data: (.*)$/m;
    my $j = eval { $json->decode($data // $body) } // {};
    return $j->{result};
}


# ---- stateless 2026-07-28 wire

my @h = ('MCP-Protocol-Version' => '2026-07-28', 'Mcp-Method' => 'resources/list');
my $msg = sub {
    { jsonrpc => '2.0', id => $_[0], method => 'resources/list',
      params => { _meta => $m->meta } }
};
$r = $t->raw(request('/mcp', $msg->(1), \@h) . request('/mcp', $msg->(2), \@h, 1));
my @r = responses($r->{raw});
is(scalar @r, 2, '2026-07-28: two answers on one connection');
is($r[0]{status}, 200, '2026-07-28: first 200');
ok(result_of($r[0]{body}) && ref result_of($r[0]{body})->{resources} eq 'ARRAY',
   '2026-07-28: first is a resources/list result');
is($r[1]{status}, 200, '2026-07-28: pipelined second 200');
ok(result_of($r[1]{body}) && ref result_of($r[1]{body})->{resources} eq 'ARRAY',
   '2026-07-28: second is a resources/list result');


# ---- a session (2025-11-25)

my ($sid) = $m->initialize('2025-11-25');
ok($sid, 'session');
@h = ('Mcp-Session-Id' => $sid, 'MCP-Protocol-Version' => '2025-11-25');
$msg = sub { { jsonrpc => '2.0', id => $_[0], method => 'resources/list' } };
$r = $t->raw(request('/mcp', $msg->(3), \@h) . request('/mcp', $msg->(4), \@h, 1));
@r = responses($r->{raw});
is(scalar @r, 2, 'session: two answers on one connection');
ok(result_of($r[0]{body}) && result_of($r[1]{body}),
   'session: both are results');


# ---- legacy SSE: the POST answers 202, the reply goes to the stream

my $s = $m->open_stream('GET', '/sse', headers => [ 'Accept' => 'text/event-stream' ]);
$m->read_until($s, sub { $m->events($_[0]{body}) >= 1 }, 5);
my ($ep) = $m->events($m->response($s)->{body});
my ($path) = ($ep->{data} // '') =~ m{(/sse/messages\?sessionId=\w+)};
ok($path, 'legacy: endpoint event');
$path //= '/sse/messages?sessionId=none';

my @init = (
    { jsonrpc => '2.0', id => 1, method => 'initialize',
      params => { protocolVersion => '2024-11-05', capabilities => {},
                  clientInfo => { name => 'confhaven-test', version => '1' } } },
    { jsonrpc => '2.0', method => 'notifications/initialized' },
);
$t->post_json($path, $_) for @init;
$r = $t->raw(request($path, { jsonrpc => '2.0', id => 5, method => 'resources/list' }, [])
             . request($path, { jsonrpc => '2.0', id => 6, method => 'resources/list' },
                       [], 1));
@r = responses($r->{raw});
is(scalar @r, 2, 'legacy: two answers on one connection');
is(join(' ', map { $_->{status} } @r), '202 202', 'legacy: both 202');
$m->read_until($s, sub {
    grep { ($_->{json}{id} // 0) == 6 } $m->events($_[0]{body})
}, 10);
my %ids = map { ($_->{json}{id} // 0) => $_->{json} }
    grep { ($_->{event} // '') eq 'message' } $m->events($m->response($s)->{body});
ok($ids{5} && $ids{5}{result} && $ids{6} && $ids{6}{result},
   'legacy: both results on the stream');
close $s->{sock};
