#!/usr/bin/perl

# MCP across nginx instances sharing PostgreSQL and a (private) Redis: two
# instances A and B, two workers each.  Legacy HTTP+SSE: a stream opened on
# A, 100 POSTs alternating between A and B, 100 replies on the stream, none
# twice (B publishes its replies to the channel of A's worker).  Streamable
# HTTP: a session initialized on A is accepted by B (tools/call, GET stream,
# DELETE), and once deleted on B it is gone on A too; an answer streamed on
# A is replayed on B for its Last-Event-ID, once, from Redis (event ids carry
# the instance), and an id unknown there is 400.  With Redis stopped
# each instance works on its own as before; when Redis is back the workers
# subscribe again and B reaches A's streams again.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);

use ConfHaven::Test;
use ConfHaven::MCP;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->worker_processes(2);
my $t2 = ConfHaven::Test->new()->needs_module()->worker_processes(2);
$t->private_redis();
$t->plan(52);

my $conf = <<'EOF2';
confhaven_pg_server "%%DSN%%";
confhaven_redis_server redis://%%REDIS%%;
confhaven_redis_timeout 500ms;

log_format mi '$pid $request_method $uri $status';

server {
    listen 127.0.0.1:%%PORT_1%%;

    access_log %%TESTDIR%%/mi.log mi;

    location /sse {
        confhaven_mcp_sse on;
        confhaven_mcp_sse_keepalive 1s;
    }

    location /mcp {
        confhaven_mcp on;
    }

    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF2

$t->write_conf($conf);

# B: the same database and Redis as A, its own prefix and port
my $dsn = $t->db;
my $redis = $t->redis;
(my $conf2 = $conf) =~ s/%%DSN%%/$dsn/;
$conf2 =~ s/%%REDIS%%/$redis/;
$t2->write_conf($conf2);

$t->run();
$t2->run();

my $r = $t->import_file('scottish-summit-2026',
                        'sessionize-all_scottish-summit-2026.json',
                        name => 'Scottish Summit 2026', timezone => 'Europe/London');
is($r->{status}, 200, 'import');

my $ma = ConfHaven::MCP->new($t, path => '/sse');
my $mb = ConfHaven::MCP->new($t2, path => '/sse');

sub subscribed {
    my ($x) = @_;
    my @l = $x->grep_log(qr/subscribe|SUBSCRIBE/);
    return scalar @l;
}

sub open_sse {
    my ($m) = @_;
    my $s = $m->open_stream('GET', '/sse',
                            headers => [ 'Accept' => 'text/event-stream' ]);
    $m->read_until($s, sub { my @e = $m->events($_[0]{body}); @e >= 1 }, 5);
    my ($ep) = $m->events($m->response($s)->{body});
    return ($s, $ep);
}

sub messages {
    my ($m, $s) = @_;
    return grep { ($_->{event} // '') eq 'message' } $m->events($m->response($s)->{body});
}

sub ids {
    my ($m, $s, $from) = @_;
    my %c;
    $c{$_->{json}{id}}++ for grep { ($_->{json}{id} // 0) >= $from } messages($m, $s);
    return %c;
}


# ---- legacy HTTP+SSE: a stream on A, POSTs to A and B

my ($s, $ep) = open_sse($ma);
is($ep->{event}, 'endpoint', 'stream on A: endpoint event');
my ($sid) = ($ep->{data} // '') =~ m{sessionId=([0-9a-f]{32})$};
my $url = $ep->{data};
ok($sid, 'a session id');

like($t->redis_cli('HGET', "confhaven:mcp:session:$sid", 'sse'), qr/^[0-9a-f]{16}:\d+$/,
     'the stream is registered in Redis with its instance and worker');
my $ttl = $t->redis_cli('PTTL', "confhaven:mcp:session:$sid");
ok($ttl > 0 && $ttl <= 3600000, "with the session's idle TTL ($ttl ms)");

$r = $t2->post_json($url, { jsonrpc => '2.0', id => 1, method => 'initialize',
                            params => { protocolVersion => '2024-11-05', capabilities => {},
                                        clientInfo => { name => 't', version => '1' } } });
is($r->{status}, 202, 'initialize POSTed to B: 202');
ok($ma->read_until($s, sub { grep { ($_->{json}{id} // 0) == 1 } messages($ma, $s) }, 5),
   'its reply comes on the stream held by A');
my ($init) = grep { ($_->{json}{id} // 0) == 1 } messages($ma, $s);
is($init->{json}{result}{protocolVersion}, '2024-11-05', 'InitializeResult');

$r = $t2->post_json($url, { jsonrpc => '2.0', method => 'notifications/initialized' });
is($r->{status}, 202, 'notification to B: 202');

$r = $t2->post_json($url, { jsonrpc => '2.0', id => 2, method => 'tools/call',
                            params => { name => 'search_sessions',
                                        arguments => { query => 'copilot',
                                                       include_past => JSON::PP::true,
                                                       limit => 2 } } });
is($r->{status}, 202, 'tools/call to B: 202');
ok($ma->read_until($s, sub { grep { ($_->{json}{id} // 0) == 2 } messages($ma, $s) }, 10),
   'the tool result comes on the stream');
my ($tc) = grep { ($_->{json}{id} // 0) == 2 } messages($ma, $s);
is($tc->{json}{result}{isError}, JSON::PP::false, 'search_sessions answered by B');

my $N = 100;
my @codes;
for (my $i = 0; $i < $N; $i += 20) {
    my @h = map {
        my $x = $_ % 2 ? $t2 : $t;
        $x->http_start('POST', $url, content_type => 'application/json',
                       body => $t->json->encode({ jsonrpc => '2.0', id => 1000 + $_,
                                                  method => $_ % 3 ? 'ping' : 'tools/list' }))
    } $i .. $i + 19;
    push @codes, map { $_->{status} // 0 } $t->http_finish(@h);
}
is(scalar(grep { $_ == 202 } @codes), $N, "$N POSTs alternating A and B: 202 each");
$ma->read_until($s, sub { my %c = ids($ma, $s, 1000); keys(%c) >= $N }, 15);
sleep(0.3);
my %count = ids($ma, $s, 1000);
is(scalar(keys %count), $N, "$N replies on the stream, none lost");
is(scalar(grep { $_ != 1 } values %count), 0, 'none twice');
ok(!grep({ !exists $_->{json}{result} } grep { ($_->{json}{id} // 0) >= 1000 } messages($ma, $s)),
   'every reply a result');

my $logb = $t2->read_file('mi.log') // '';
my $nb = () = $logb =~ m{^\d+ POST /sse/messages 202}mg;
ok($nb >= $N / 2, "B answered its POSTs itself ($nb)");

$r = $t2->post_json("/sse/messages?sessionId=" . ('b' x 32),
                    { jsonrpc => '2.0', id => 3, method => 'ping' });
is($r->{status}, 404, 'unknown session on B: 404');

close $s->{sock};
for (1 .. 40) {
    last if $t->redis_cli('EXISTS', "confhaven:mcp:session:$sid") eq '0';
    sleep(0.05);
}
is($t->redis_cli('EXISTS', "confhaven:mcp:session:$sid"), '0',
   'the stream closed: its session left Redis');
$r = $t2->post_json($url, { jsonrpc => '2.0', id => 4, method => 'ping' });
is($r->{status}, 404, 'POST to B for the closed stream: 404');


# ---- Streamable HTTP: a session of A used on B

my $ha = ConfHaven::MCP->new($t, path => '/mcp');
my $hb = ConfHaven::MCP->new($t2, path => '/mcp');

my ($msid, $ir) = $ha->initialize('2025-11-25');
ok($msid, 'initialize on A: a session');
is($t->redis_cli('HGET', "confhaven:mcp:session:$msid", 'v'), '4',
   'registered in Redis with its version');

$r = $hb->request('tools/call', { name => 'list_conferences',
                                  arguments => { include_past => JSON::PP::true } },
                  session => $msid, version => '2025-11-25');
is($r->{status}, 200, 'tools/call on B with the session of A: 200');
ok(($r->{json}{result}{structuredContent} // $r->{json}{result} // 0)
   && !$r->{json}{result}{isError}, 'a result');

$r = $hb->request('ping', undef, session => $msid, version => '2025-11-25');
is($r->{status}, 200, 'ping on B: 200');

# an answer as an event stream on A, resumed on B with its Last-Event-ID
my $SSE = 'text/event-stream, application/json';
$r = $ha->request('tools/call', { name => 'list_conferences',
                                  arguments => { include_past => JSON::PP::true } },
                  session => $msid, version => '2025-11-25', accept => $SSE);
my @ev = $ha->events($r->{body});
is_deeply([$r->{status}, scalar @ev], [200, 2], 'tools/call on A as a stream: priming, answer');
my ($est, $eseq, $einst) = ($ev[0]{id} // '') =~ /^(\d+)-(\d+)-([0-9a-f]{16})$/;
ok($einst && $ev[1]{id} eq "$est-" . ($eseq + 1) . "-$einst",
   'event ids carry the instance: "<stream>-<seq>-<instance>"');
my $answer = $ev[1]{data};
ok($t->redis_cli('LLEN', "confhaven:mcp:events:$msid") >= 2, 'the events are in Redis');

my $same = 0;
for (1 .. 6) {
    my $g = $t2->http('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                                   'Mcp-Session-Id' => $msid,
                                                   'MCP-Protocol-Version' => '2025-11-25',
                                                   'Last-Event-ID' => $ev[0]{id} ]);
    my @re = $hb->events($g->{body});
    $same++ if $g->{status} == 200 && @re == 1 && $re[0]{id} eq $ev[1]{id}
               && $re[0]{data} eq $answer && !$g->{timeout};
}
is($same, 6, 'Last-Event-ID of A on B: the answer replayed exactly once, then ended');

$r = $t2->http('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                           'Mcp-Session-Id' => $msid,
                                           'MCP-Protocol-Version' => '2025-11-25',
                                           'Last-Event-ID' => $ev[1]{id} ]);
is_deeply([$r->{status}, scalar $hb->events($r->{body}), $r->{timeout} // 0], [200, 0, 0],
          'on B, Last-Event-ID of the last event: nothing more, ended');

$r = $t->http('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                          'Mcp-Session-Id' => $msid,
                                          'MCP-Protocol-Version' => '2025-11-25',
                                          'Last-Event-ID' => $ev[0]{id} ]);
my @re = $ha->events($r->{body});
ok($r->{status} == 200 && @re == 1 && $re[0]{data} eq $answer, 'on A itself: from its own log');

for my $bad ("$est-" . ($eseq + 50) . "-$einst", "$est-$eseq-" . ('0' x 16),
             "$est-$eseq")
{
    $r = $t2->http('GET', '/mcp', headers => [ 'Accept' => 'text/event-stream',
                                               'Mcp-Session-Id' => $msid,
                                               'MCP-Protocol-Version' => '2025-11-25',
                                               'Last-Event-ID' => $bad ]);
    is($r->{status}, 400, "unknown Last-Event-ID $bad on B: 400");
}

$r = $hb->request('tools/call', { name => 'list_conferences', arguments => {} },
                  session => $msid, version => '2025-11-25', accept => $SSE);
my @evb = $hb->events($r->{body});
my ($bst, $bseq, $binst) = ($evb[0]{id} // '') =~ /^(\d+)-(\d+)-([0-9a-f]{16})$/;
ok($binst && $binst ne $einst, "B's events carry B's instance: no id of A's");

my $ga = $ha->open_stream('GET', '/mcp',
                          headers => [ 'Accept' => 'text/event-stream',
                                       'Mcp-Session-Id' => $msid,
                                       'MCP-Protocol-Version' => '2025-11-25' ]);
$ha->read_until($ga, sub { ($_[0]{body} // "") =~ /\n\n/ }, 5);
my ($pa) = $ha->events($ha->response($ga)->{body});
close $ga->{sock};
my $gb = $hb->open_stream('GET', '/mcp',
                          headers => [ 'Accept' => 'text/event-stream',
                                       'Mcp-Session-Id' => $msid,
                                       'MCP-Protocol-Version' => '2025-11-25',
                                       'Last-Event-ID' => $pa->{id} // '' ]);
$hb->read_until($gb, sub { ($_[0]{body} // "") =~ /\n\n/ }, 5);
my ($pb) = $hb->events($hb->response($gb)->{body});
ok(($pa->{id} // '') =~ /^0-\d+-\Q$einst\E$/ && ($hb->response($gb)->{status} // 0) == 200
   && ($pb->{id} // '') =~ /^0-\d+-\Q$binst\E$/,
   "A's standalone stream resumed on B: a new standalone stream of B");
close $gb->{sock};

my $g = $hb->open_stream('GET', '/mcp',
                         headers => [ 'Accept' => 'text/event-stream',
                                      'Mcp-Session-Id' => $msid,
                                      'MCP-Protocol-Version' => '2025-11-25' ]);
ok($hb->read_until($g, sub { ($_[0]{status} // 0) == 200 && $_[0]{body} =~ /\n\n/ }, 5),
   'GET stream on B for the session of A');
close $g->{sock};

$r = $t2->http('DELETE', '/mcp', headers => [ 'Mcp-Session-Id' => $msid,
                                              'MCP-Protocol-Version' => '2025-11-25' ]);
is($r->{status}, 200, 'DELETE on B: 200');
is($t->redis_cli('EXISTS', "confhaven:mcp:session:$msid"), '0', 'gone from Redis');
is($t->redis_cli('EXISTS', "confhaven:mcp:events:$msid"), '0', 'its events too');

$r = $ha->request('ping', undef, session => $msid, version => '2025-11-25');
is($r->{status}, 404, 'deleted on B: 404 on A as well');
$r = $hb->request('ping', undef, session => $msid, version => '2025-11-25');
is($r->{status}, 404, 'and on B');

$r = $hb->request('ping', undef, session => 'c' x 32, version => '2025-11-25');
is($r->{status}, 404, 'unknown session on B: 404');


# ---- Redis stopped: each instance on its own

$t->redis_stop();
sleep(0.3);

my ($s2, $ep2) = open_sse($ma);
$r = $t->post_json($ep2->{data}, { jsonrpc => '2.0', id => 7, method => 'ping' });
ok($r->{status} == 202
   && $ma->read_until($s2, sub { grep { ($_->{json}{id} // 0) == 7 } messages($ma, $s2) }, 5),
   'Redis down: a legacy stream on A still works with POSTs to A');

my @h = map { $t->http_start('POST', $ep2->{data}, content_type => 'application/json',
                             body => $t->json->encode({ jsonrpc => '2.0', id => 2000 + $_,
                                                        method => 'ping' })) } 0 .. 19;
is(scalar(grep { ($_->{status} // 0) == 202 } $t->http_finish(@h)), 20,
   'Redis down: 20 POSTs to A over its workers: 202');
$ma->read_until($s2, sub { my %c = ids($ma, $s2, 2000); keys(%c) >= 20 }, 5);
my %c2 = ids($ma, $s2, 2000);
ok(keys(%c2) == 20 && !grep({ $_ != 1 } values %c2), 'Redis down: 20 replies, once each');

my ($dsid) = $ha->initialize('2025-06-18');
ok($dsid, 'Redis down: initialize on A');
$r = $ha->request('tools/call', { name => 'list_conferences', arguments => {} },
                  session => $dsid, version => '2025-06-18');
is($r->{status}, 200, 'Redis down: tools/call on A with its session');
$r = $t->http('DELETE', '/mcp', headers => [ 'Mcp-Session-Id' => $dsid ]);
is($r->{status}, 200, 'Redis down: DELETE on A');
close $s2->{sock};


# ---- Redis back: the subscribers come back, B reaches A's streams again

$t->redis_start();
my $ok = 0;
for (1 .. 100) {
    if ($t->grep_log(qr/subscribed to .* again/) >= 2
        && $t2->grep_log(qr/subscribed to .* again/) >= 2)
    {
        $ok = 1;
        last;
    }
    sleep(0.1);
}
ok($ok, 'Redis back: every worker of A and B subscribed again');

my ($s3, $ep3) = open_sse($ma);
$r = $t2->post_json($ep3->{data}, { jsonrpc => '2.0', id => 9, method => 'ping' });
ok($r->{status} == 202
   && $ma->read_until($s3, sub { grep { ($_->{json}{id} // 0) == 9 } messages($ma, $s3) }, 5),
   'Redis back: a POST to B reaches the new stream on A');
close $s3->{sock};
sleep(0.3);

$t2->stop();
my @alerts = $t2->alerts;
ok(!@alerts, 'no alerts on B') or diag(join "\n", @alerts[0 .. ($#alerts < 9 ? $#alerts : 9)]);
