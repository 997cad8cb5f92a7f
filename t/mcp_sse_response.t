#!/usr/bin/perl

# MCP answers as text/event-stream (four workers): the choice between JSON
# and SSE by Accept (q-values, then order), the 2025-11-25 priming event
# (id, retry, empty data), event ids on every event of a session, errors
# found before any work keeping their HTTP status, the 2026-07-28 wire
# without ids; the session's GET stream (priming, keep-alive comments, one
# per session, 406 without text/event-stream, closed when the session is
# deleted, released when the client goes away) and Last-Event-ID replay of
# a POST stream's answer from the shared log, whatever worker it reaches,
# also when the client dropped the POST stream before the answer.

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

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";

server {
    listen 127.0.0.1:%%PORT_1%%;

    location /mcp {
        confhaven_mcp on;
        confhaven_mcp_sse_keepalive 500ms;
    }

    location /mcp-quiet {
        confhaven_mcp on;
        confhaven_mcp_sse_keepalive 1h;
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
my $SSE = 'text/event-stream, application/json';

sub search {
    my ($sid, %o) = @_;
    return $m->request('tools/call', { name => 'search_sessions',
                                        arguments => { query => 'copilot',
                                                       limit => 2,
                                                       include_past => JSON::PP::true } },
                       session => $sid, version => $o{version} // '2025-11-25',
                       accept => $o{accept} // $SSE);
}


# ---- initialize as a stream

$r = $m->request('initialize', { protocolVersion => '2025-11-25', capabilities => {},
                                  clientInfo => { name => 't', version => '1' } },
                 accept => $SSE);
is($r->{status}, 200, 'initialize (SSE preferred): 200');
like($r->{headers}{'content-type'}, qr{^text/event-stream}, 'initialize: text/event-stream');
is($r->{headers}{'x-accel-buffering'}, 'no', 'X-Accel-Buffering: no');
like($r->{headers}{'cache-control'}, qr/no-cache/, 'Cache-Control: no-cache');
my $sid = $r->{headers}{'mcp-session-id'};
ok($sid, 'session id on the stream');
my @ev = $m->events($r->{body});
is(scalar @ev, 2, 'priming event and the answer');
is_deeply([@{$ev[0]}{qw(id retry data)}], ['1-1', 1000, ''],
          'priming: id, retry, empty data');
is($ev[1]{event}, 'message', 'answer: event message');
is($ev[1]{id}, '1-2', 'answer: the next id of the stream');
is($ev[1]{json}{result}{protocolVersion}, '2025-11-25', 'answer: InitializeResult');
$m->notify('notifications/initialized', undef, session => $sid, version => '2025-11-25');


# ---- Accept decides

$r = $m->request('ping', undef, session => $sid, version => '2025-11-25',
                 accept => 'application/json, text/event-stream');
like($r->{headers}{'content-type'}, qr{^application/json}, 'JSON listed first: JSON');
$r = $m->request('ping', undef, session => $sid, version => '2025-11-25', accept => '*/*');
like($r->{headers}{'content-type'}, qr{^application/json}, '*/*: JSON');
$r = $m->request('ping', undef, session => $sid, version => '2025-11-25',
                 accept => 'application/json;q=0.5, text/event-stream');
like($r->{headers}{'content-type'}, qr{^text/event-stream}, 'higher q for SSE: SSE');
$r = $m->request('ping', undef, session => $sid, version => '2025-11-25',
                 accept => 'text/event-stream;q=0.2, application/json');
like($r->{headers}{'content-type'}, qr{^application/json}, 'higher q for JSON: JSON');
$r = $m->request('ping', undef, session => $sid, version => '2025-11-25',
                 accept => 'application/json, text/event-stream;q=0');
is($r->{status}, 406, 'SSE refused with q=0: 406 (both are required)');


# ---- a tool call as a stream, resumed with Last-Event-ID

$r = search($sid);
is($r->{status}, 200, 'tools/call (SSE): 200');
@ev = $m->events($r->{body});
is(scalar @ev, 2, 'tools/call: priming and answer');
my ($stream, $n) = ($ev[0]{id} // '') =~ /^(\d+)-(\d+)$/;
ok($stream && $stream > 1, 'tools/call: a new stream number');
is($ev[1]{id}, "$stream-" . ($n + 1), 'answer id follows the priming id');
is($ev[1]{json}{result}{isError}, JSON::PP::false, 'search answered');
my $answer = $ev[1]{data};

my $same = 0;
for (1 .. 12) {
    my $g = $t->http('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                                  'Mcp-Session-Id' => $sid,
                                                  'Last-Event-ID' => $ev[0]{id} ]);
    my @re = $m->events($g->{body});
    $same++ if $g->{status} == 200 && @re == 1 && $re[0]{id} eq $ev[1]{id}
               && $re[0]{data} eq $answer && !$g->{timeout};
}
is($same, 12, 'Last-Event-ID replays the answer, from any worker, then ends');

$r = $t->http('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                          'Mcp-Session-Id' => $sid,
                                          'Last-Event-ID' => $ev[1]{id} ]);
is_deeply([$r->{status}, scalar $m->events($r->{body}), $r->{timeout} // 0], [200, 0, 0],
          'Last-Event-ID of the last event: nothing more, ended');

$r = $t->http('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                          'Mcp-Session-Id' => $sid,
                                          'Last-Event-ID' => 'abc' ]);
is($r->{status}, 400, 'malformed Last-Event-ID: 400');
$r = $t->http('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                          'Mcp-Session-Id' => $sid,
                                          'Last-Event-ID' => '999-99999' ]);
is($r->{status}, 400, 'unknown Last-Event-ID: 400');

# the client drops the POST stream after the priming event: the answer is
# still logged and a GET elsewhere gets it (replayed or awaited)
my $ok = 0;
for (1 .. 5) {
    my $body = $t->json->encode({ jsonrpc => '2.0', id => 900 + $_, method => 'tools/call',
                                  params => { name => 'search_sessions',
                                              arguments => { query => "agents $_",
                                                             include_past => JSON::PP::true } } });
    my $s = $m->open_stream('POST', '/mcp', body => $body, content_type => 'application/json',
                            headers => [ 'Accept' => $SSE, 'Mcp-Session-Id' => $sid,
                                         'MCP-Protocol-Version' => '2025-11-25' ]);
    $m->read_until($s, sub { my @e = $m->events($_[0]{body}); @e >= 1 }, 5);
    my ($prime) = $m->events($m->response($s)->{body});
    close $s->{sock};
    next unless $prime && $prime->{id};
    my $g = $t->http('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                                  'Mcp-Session-Id' => $sid,
                                                  'Last-Event-ID' => $prime->{id} ]);
    my @re = $m->events($g->{body});
    $ok++ if @re == 1 && ($re[0]{json}{id} // 0) == 900 + $_ && $re[0]{json}{result};
}
is($ok, 5, 'dropped POST stream: the answer comes with Last-Event-ID');


# ---- other versions and wires

my ($sid18) = $m->initialize('2025-06-18');
$r = search($sid18, version => '2025-06-18');
@ev = $m->events($r->{body});
is(scalar @ev, 1, '2025-06-18: no priming event');
like($ev[0]{id} // '', qr/^\d+-\d+$/, '2025-06-18: the answer has an id');

$r = $m->notify('notifications/initialized', undef, session => $sid, version => '2025-11-25',
                accept => $SSE);
is($r->{status}, 202, 'notification with SSE preferred: 202');

$r = $m->request('tools/list', undef, accept => $SSE);
is($r->{status}, 400, 'no session: 400 even when SSE is preferred');
like($r->{headers}{'content-type'}, qr{^application/json}, 'no session: a JSON error');

$r = $m->modern('tools/list', {}, accept => 'text/event-stream');
like($r->{headers}{'content-type'}, qr{^text/event-stream}, '2026: SSE when asked');
@ev = $m->events($r->{body});
is(scalar @ev, 1, '2026: one event, no priming');
ok(!exists $ev[0]{id}, '2026: no event id');
is($ev[0]{json}{result}{resultType}, 'complete', '2026: resultType on the stream');
ok(!exists $r->{headers}{'mcp-session-id'}, '2026: no session');
$r = $m->modern('unknown/method', {}, accept => 'text/event-stream');
is($r->{status}, 404, '2026 unknown method: still 404 with SSE preferred');
$r = $m->modern('tools/call', { name => 'search_sessions',
                                arguments => { query => 'copilot', conference => 'scottish-summit-2026' } },
                accept => $SSE);
@ev = $m->events($r->{body});
is($ev[0]{json}{result}{isError}, JSON::PP::false, '2026: a tool call as a stream');


# ---- the GET stream

my $s = $m->open_stream('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                                    'Mcp-Session-Id' => $sid ]);
ok($m->read_until($s, sub { $m->comments($_[0]{body}) >= 1 }, 3),
   'GET stream: a keep-alive comment within the interval');
my $g = $m->response($s);
is($g->{status}, 200, 'GET stream: 200');
like($g->{headers}{'content-type'}, qr{^text/event-stream}, 'GET stream: text/event-stream');
is($g->{headers}{'x-accel-buffering'}, 'no', 'GET stream: X-Accel-Buffering: no');
is($g->{headers}{'mcp-session-id'}, $sid, 'GET stream: the session id');
@ev = $m->events($g->{body});
like($ev[0]{id} // '', qr/^0-\d+$/, 'GET stream: priming event on stream 0');
is($ev[0]{retry}, 1000, 'GET stream: retry');

# a second GET stream (what the TypeScript SDK opens after a resumed stream
# ended) is served too, with keep-alives only: server messages go to the
# first, so nothing is delivered twice
my $s2 = $m->open_stream('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                                     'Mcp-Session-Id' => $sid ]);
ok($m->read_until($s2, sub { ($_[0]{status} // 0) > 0 }, 3),
   'a second GET stream: answered at once');
my $g2 = $m->response($s2);
is($g2->{status}, 200, 'a second GET stream: 200, not 409');
like($g2->{headers}{'content-type'} // '', qr{^text/event-stream},
     'a second GET stream: text/event-stream');
close $s2->{sock};

$r = $t->http('GET', '/mcp', headers => [ 'Accept' => 'application/json',
                                          'Mcp-Session-Id' => $sid ]);
is($r->{status}, 406, 'GET without text/event-stream: 406');

$r = $t->http('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream' ]);
is($r->{status}, 405, 'GET without a session: 405');

$r = $t->http('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                          'Mcp-Session-Id' => 'f' x 32 ]);
is($r->{status}, 404, 'GET with an unknown session: 404');

# the client goes away: the claim is released at once
close $s->{sock};
my $reopened;
for (1 .. 20) {
    $s = $m->open_stream('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                                     'Mcp-Session-Id' => $sid ]);
    $m->read_until($s, sub { defined $_[0]{status} }, 3);
    $reopened = $m->response($s)->{status};
    last if $reopened == 200;
    close $s->{sock};
    sleep(0.05);
}
is($reopened, 200, 'GET stream again once the client went away');

# resumed standalone stream: Last-Event-ID 0-n continues it live
my $keep = 0;
$m->read_until($s, sub { $m->comments($_[0]{body}) >= 2 }, 3) and $keep = 1;
ok($keep, 'keep-alives keep coming');

$r = $t->http('DELETE', '/mcp', headers => [ 'Mcp-Session-Id' => $sid ]);
is($r->{status}, 200, 'DELETE the session');
ok($m->read_until($s, sub { 0 }, 3) == 0 && $s->{eof},
   'the GET stream ends with its session');
my $end = $m->response($s);
like($end->{raw}, qr/0\r\n\r\n$/, 'GET stream: ended with the last chunk');
close $s->{sock};

# a worker's stream survives another stream's end; the log is bounded
my ($sid2) = $m->initialize('2025-11-25');
my $ids = 0;
for my $i (1 .. 70) {
    $r = $m->request('ping', undef, session => $sid2, version => '2025-11-25', accept => $SSE);
    my @e = $m->events($r->{body});
    $ids++ if @e == 2 && $e[1]{json} && $e[1]{json}{id};
}
is($ids, 70, '70 streams in one session');
$r = $t->http('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                          'Mcp-Session-Id' => $sid2,
                                          'Last-Event-ID' => '1-1' ]);
is_deeply([$r->{status}, scalar $m->events($r->{body}), $r->{timeout} // 0], [200, 0, 0],
          'an answer dropped from the bounded log: nothing to replay, ended');
$r = $t->http('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                          'Mcp-Session-Id' => $sid2,
                                          'Last-Event-ID' => '70-' . (2 * 70 - 1) ]);
@ev = $m->events($r->{body});
is_deeply([$r->{status}, scalar @ev, $ev[0]{id}], [200, 1, '70-140'],
          'a recent answer is still in the log');

$r = $m->request('ping', undef, session => $sid2, version => '2025-11-25');
is($r->{status}, 200, 'the session still works');

# a standalone GET stream of a session without priming events (2025-06-18)
# and keep-alives an hour apart: its headers go at once, not with the
# first keep-alive (the SDKs wait for them)
my $q = ConfHaven::MCP->new($t, path => '/mcp-quiet');
my ($qsid) = $q->initialize('2025-06-18');
my $qs = $q->open_stream('GET', '/mcp-quiet',
                         headers => [ 'Accept' => 'text/event-stream',
                                      'Mcp-Session-Id' => $qsid // '',
                                      'MCP-Protocol-Version' => '2025-06-18' ]);
ok($q->read_until($qs, sub { ($_[0]{status} // 0) > 0 }, 10),
   'a GET stream with nothing to send yet: its headers are sent at once');
is($q->response($qs)->{status}, 200, '... 200');
close $qs->{sock};

# graceful stop with a GET stream open: no "open socket left" alert
$s = $m->open_stream('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                                 'Mcp-Session-Id' => $sid2 ]);
ok($m->read_until($s, sub { defined $_[0]{status} }, 3), 'a stream open at shutdown');
$t->stop();
ok($m->read_until($s, sub { 0 }, 5) == 0 && $s->{eof}, 'shutdown closes the stream');
close $s->{sock};
