#!/usr/bin/perl

# The legacy HTTP+SSE transport of 2024-11-05 (confhaven_mcp_sse, four
# workers): GET opens the stream whose first event is "endpoint" with the
# POST path under the location (prefix kept), POSTs answer 202 and their
# replies come on the stream as "event: message", from whatever worker got
# the POST: 300 concurrent POSTs give 300 replies, each exactly once; keep-
# alive comments, X-Accel-Buffering; errors (405 on the stream URL, 404 for
# an unknown or closed stream, 400s); the stream and its session go away
# with the client (worker file descriptors back to where they were).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);

use ConfHaven::Test;
use ConfHaven::MCP;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(4)->plan(39);

$t->write_conf(<<'EOF2');
confhaven_pg_server "%%DSN%%";

log_format sse '$pid $request_method $uri $status';

server {
    listen 127.0.0.1:%%PORT_1%%;

    access_log %%TESTDIR%%/sse.log sse;

    location /sse {
        confhaven_mcp_sse on;
        confhaven_mcp_sse_keepalive 500ms;
    }

    location /prefix/sse {
        confhaven_mcp_sse on;
    }

    location = /mcp {
        confhaven_mcp on;
    }

    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF2
$t->run();

my $r = $t->import_file('scottish-summit-2026',
                        'sessionize-all_scottish-summit-2026.json',
                        name => 'Scottish Summit 2026', timezone => 'Europe/London');
is($r->{status}, 200, 'import');

my $m = ConfHaven::MCP->new($t, path => '/sse');

sub open_sse {
    my ($path) = @_;
    my $s = $m->open_stream('GET', $path // '/sse',
                            headers => [ 'Accept' => 'text/event-stream' ]);
    $m->read_until($s, sub { my @e = $m->events($_[0]{body}); @e >= 1 }, 5);
    my ($ep) = $m->events($m->response($s)->{body});
    return ($s, $ep);
}

sub messages {
    my ($s) = @_;
    return grep { ($_->{event} // '') eq 'message' } $m->events($m->response($s)->{body});
}

sub post {
    my ($path, $msg, %o) = @_;
    return $t->post_json($path, $msg, %o);
}

sub workers {
    my $master = $t->pid;
    my @w;
    for my $st (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $st or next;
        my $line = <$fh> // '';
        close $fh;
        my ($pid, $ppid) = $line =~ /^(\d+) \(.*\) \S+ (\d+)/ or next;
        push @w, $pid if $ppid == $master;
    }
    return @w;
}

sub fds {
    my $n = 0;
    for my $w (workers()) {
        opendir my $d, "/proc/$w/fd" or next;
        $n += grep { /^\d+$/ } readdir $d;
        closedir $d;
    }
    return $n;
}


# ---- probing and errors

$r = post('/sse', { jsonrpc => '2.0', id => 1, method => 'initialize', params => {} });
is($r->{status}, 405, 'POST to the stream URL: 405');
is($r->{headers}{allow}, 'GET', 'Allow: GET');
$r = $t->http('GET', '/sse/messages');
is($r->{status}, 405, 'GET on the messages path: 405');
$r = post('/sse/messages?sessionId=' . ('a' x 32), { jsonrpc => '2.0', id => 1, method => 'ping' });
is($r->{status}, 404, 'unknown session: 404');
$r = post('/sse/messages', { jsonrpc => '2.0', id => 1, method => 'ping' });
is($r->{status}, 400, 'no sessionId: 400');


# ---- the stream

my ($s, $ep) = open_sse();
my $head = $m->response($s);
is($head->{status}, 200, 'GET /sse: 200');
like($head->{headers}{'content-type'}, qr{^text/event-stream}, 'text/event-stream');
is($head->{headers}{'x-accel-buffering'}, 'no', 'X-Accel-Buffering: no');
is($ep->{event}, 'endpoint', 'first event: endpoint');
my ($sid) = ($ep->{data} // '') =~ m{^/sse/messages\?sessionId=([0-9a-f]{32})$};
ok($sid, "endpoint: a POST path under the location ($ep->{data})");
my $url = $ep->{data};

my ($ps, $pep) = open_sse('/prefix/sse/');
like($pep->{data} // '', qr{^/prefix/sse/messages\?sessionId=[0-9a-f]{32}$},
     'endpoint keeps the location prefix');
close $ps->{sock};

# the endpoint is our normalized path, never the raw request line: a
# scheme-relative "//host/..." would send the messages to another host
for my $raw ('//evil.example/../sse', '/prefix//sse/', '/./sse/%2e/') {
    my ($es, $eep) = open_sse($raw);
    like($eep->{data} // '', qr{^/(?:prefix/)?sse/messages\?sessionId=[0-9a-f]{32}$},
         "GET $raw: endpoint is a local path ($eep->{data})");
    close $es->{sock};
}

$r = post($url, { jsonrpc => '2.0', id => 1, method => 'initialize',
                  params => { protocolVersion => '2024-11-05', capabilities => {},
                              clientInfo => { name => 't', version => '1' } } });
is($r->{status}, 202, 'POST initialize: 202');
ok($m->read_until($s, sub { my @e = grep { ($_->{event} // '') eq 'message' }
                                 $m->events($_[0]{body}); @e >= 1 }, 5),
   'the reply comes on the stream');
my @msg = messages($s);
is($msg[0]{json}{result}{protocolVersion}, '2024-11-05', 'InitializeResult, 2024-11-05');
is($msg[0]{json}{id}, 1, 'reply id');

$r = post($url, { jsonrpc => '2.0', method => 'notifications/initialized' });
is($r->{status}, 202, 'notification: 202');

# a legacy stream's id is no Streamable HTTP session: /mcp neither serves
# nor ends it
$r = $t->http('POST', '/mcp', body => '{"jsonrpc":"2.0","id":9,"method":"ping"}',
              content_type => 'application/json',
              headers => ['Accept' => 'application/json, text/event-stream',
                          'Mcp-Session-Id' => $sid,
                          'MCP-Protocol-Version' => '2024-11-05']);
is($r->{status}, 404, 'the stream\'s id on POST /mcp: 404');
$r = $t->http('DELETE', '/mcp', headers => ['Mcp-Session-Id' => $sid,
                                             'MCP-Protocol-Version' => '2024-11-05']);
is($r->{status}, 404, 'the stream\'s id on DELETE /mcp: 404');
$r = post($url, { jsonrpc => '2.0', method => 'notifications/initialized' });
is($r->{status}, 202, 'the stream still takes messages');

$r = post($url, { jsonrpc => '2.0', id => 2, method => 'tools/call',
                  params => { name => 'search_sessions',
                              arguments => { query => 'copilot', include_past => JSON::PP::true,
                                             limit => 2 } } });
is($r->{status}, 202, 'tools/call: 202');
ok($m->read_until($s, sub { grep { ($_->{json}{id} // 0) == 2 } messages($s) }, 10),
   'tool result on the stream');
my ($tc) = grep { ($_->{json}{id} // 0) == 2 } messages($s);
is($tc->{json}{result}{isError}, JSON::PP::false, 'search_sessions answered');

$r = post($url, '{"jsonrpc":"2.0","id":3,', content_type => 'application/json');
is($r->{status}, 400, 'bad JSON: 400');
is($r->{json}{error}{code}, -32700, 'bad JSON: -32700');
$r = post($url, 'x', content_type => 'text/plain');
is($r->{status}, 400, 'wrong content type: 400');

my $before = $m->comments($m->response($s)->{body});
ok($m->read_until($s, sub { $m->comments($_[0]{body}) >= $before + 2 }, 3),
   'keep-alive comments on the interval');


# ---- many POSTs over four workers: each reply exactly once

my $N = 300;
my $sent = 0;
for (my $i = 0; $i < $N; $i += 30) {
    my @h = map {
        my $id = 1000 + $_;
        $t->http_start('POST', $url, content_type => 'application/json',
                       body => $t->json->encode({ jsonrpc => '2.0', id => $id,
                                                  method => 'ping' }))
    } $i .. $i + 29;
    $sent += grep { ($_->{status} // 0) == 202 } $t->http_finish(@h);
}
is($sent, $N, "$N POSTs: 202 each");
$m->read_until($s, sub { my %ids = map { ($_->{json}{id} // 0) => 1 } messages($s);
                         (grep { $ids{1000 + $_} } 0 .. $N - 1) == $N }, 10);
my %count;
$count{$_->{json}{id}}++ for grep { ($_->{json}{id} // 0) >= 1000 } messages($s);
is(scalar(keys %count), $N, "$N replies, none lost");
is(scalar(grep { $_ != 1 } values %count), 0, 'none twice');
ok(!grep({ !exists $_->{json}{result} } grep { ($_->{json}{id} // 0) >= 1000 } messages($s)),
   'every reply a result');

sleep(0.3);
my $log = $t->read_file('sse.log') // '';
my ($gpid) = $log =~ m{^(\d+) GET /sse 200}m;
my %pids = map { $_ => 1 } $log =~ m{^(\d+) POST /sse/messages 202}mg;
delete $pids{$gpid} if $gpid;
ok(scalar(keys %pids) >= 1, 'POSTs reached ' . scalar(keys %pids)
   . ' other workers than the stream\'s');


# ---- the client goes away

# (database connections the workers opened so far stay open: counted here)
my $fd0 = fds() - 1;
my @extra = map { (open_sse())[0] } 1 .. 20;
ok(fds() >= $fd0 + 21, 'twenty more streams hold twenty more descriptors');
close $_->{sock} for @extra, $s;

my $fd1;
for (1 .. 40) {
    sleep(0.1);
    $fd1 = fds();
    last if $fd1 <= $fd0;
}
ok($fd1 <= $fd0, "descriptors back to $fd0 ($fd1) once the clients left");

$r = post($url, { jsonrpc => '2.0', id => 5, method => 'ping' });
is($r->{status}, 404, 'POST for a closed stream: 404');

# a stream is still served after all that
my ($s2, $ep2) = open_sse();
$r = post($ep2->{data}, { jsonrpc => '2.0', id => 7, method => 'ping' });
ok($r->{status} == 202
   && $m->read_until($s2, sub { grep { ($_->{json}{id} // 0) == 7 } messages($s2) }, 5),
   'a new stream works');
close $s2->{sock};
sleep(0.3);
