#!/usr/bin/perl

# OpenTelemetry traces over OTLP/HTTP (issue 12) against a fake collector
# (t/tools/otlp/fake-otlp.js) that decodes every export request with the
# official OTLP schema (opentelemetry-proto as generated into
# @opentelemetry/otlp-transformer, pinned in t/tools/otlp):
#   * a server span per request with the HTTP semantic conventions, in the
#     client's trace (traceparent header, or MCP params._meta);
#   * children: the MCP tool call (mcp.* attributes), PostgreSQL queries
#     (db.system, db.query.summary, no parameters), Redis commands, and the
#     Graph calls of an invite, whose requests carry our traceparent and
#     the client's tracestate (the fake Graph records them);
#   * counters: spans exported, invites by outcome, exact after a known
#     sequence; promtool check metrics;
#   * a slow or refusing collector: requests are still answered, failed
#     exports and dropped spans are counted (metrics and /health);
#   * confhaven_trace_sample_ratio 0 exports nothing; a full span queue
#     drops and counts; analytics event drops and the Redis subscriber
#     gauge of the local cache tier;
#   * nginx -t: bad directives.

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();
use Time::HiRes qw(sleep time);

use ConfHaven::Test;
use ConfHaven::MCP;
use ConfHaven::Node;
use ConfHaven::FakeGraph;

plan(skip_all => 'node is needed for the fake collector and Graph')
    unless ConfHaven::FakeGraph->available;

my $otlp = ConfHaven::Node->new(dir => 'otlp', needed => [
    'node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js',
]);

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->needs_redis()
    ->worker_processes(2);

my $err = $otlp->install;
if (defined $err) {
    fail('install the fake collector (npm ci --prefix ' . $otlp->dir . ')');
    diag($err);
    done_testing();
    exit;
}

$t->private_redis();
$t->plan(93);

my $J = JSON::PP->new->canonical;
my $node = ConfHaven::FakeGraph::node_binary();

# the collector on port 8
my $clog = $t->testdir . '/fake-otlp.log';
my $cport = $t->port(8);    # allocated here, not in the child
$t->run_daemon(sub {
    open STDOUT, '>>', $clog;
    open STDERR, '>&', \*STDOUT;
    exec $node, $otlp->path('fake-otlp.js'), $cport;
});
$t->wait_port(8, 15)
    or BAIL_OUT("the fake collector did not start: "
                . (`cat $clog` // ""));

my $g = ConfHaven::FakeGraph->start($t, 9);
my $graph = $g->conf;

sub collector {
    my ($what, $body) = @_;
    if (defined $body) {
        return $t->http('POST', "/_fake/$what", port => 8,
                        content_type => 'application/json',
                        body => $J->encode($body))->{json};
    }
    return $t->http('GET', "/_fake/$what", port => 8)->{json};
}

# the spans of a trace, once at least $n have arrived (exports: every 1 s)
sub spans_of {
    my ($tid, $n, $wait) = @_;
    my $end = time() + ($wait // 15);
    my @s;
    while (1) {
        @s = grep { $_->{trace_id} eq $tid } @{collector('spans') // []};
        last if @s >= $n || time() > $end;
        sleep(0.25);
    }
    return \@s;
}

sub tp {
    my ($tid, $pid) = @_;
    return "00-$tid-$pid-01";
}

sub hex_id { join '', map { sprintf '%02x', int rand 256 } 1 .. $_[0] }

sub conf {
    my (%o) = @_;
    my $extra = $o{extra} // '';
    return <<"EOF";
thread_pool graph threads=4;

http {
    confhaven_pg_server "%%DSN%%";
    confhaven_redis_server redis://%%REDIS%%;
$graph
    confhaven_otlp_endpoint http://127.0.0.1:%%PORT_8%%/v1/traces;
$extra
    server {
        listen 127.0.0.1:%%PORT_1%%;
        add_header X-Trace-Id \$confhaven_trace_id always;

        location /mcp {
            confhaven_mcp on;
        }

        location = /metrics {
            confhaven_metrics on;
            confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
        }

        location / {
            confhaven_rest on;
            confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
        }
    }
}
EOF
}

sub scrape {
    my $r = $t->http('GET', '/metrics',
                     headers => ['Authorization' => 'Bearer ' . $t->admin_key]);
    my %s;
    for my $line (split /\n/, $r->{body} // '') {
        next if $line =~ /^#/ || $line eq '';
        my ($k, $v) = $line =~ /^(\S+(?:\{.*\})?) (\S+)$/ or next;
        $s{$k} = $v;
    }
    return (\%s, $r->{body});
}

# ---------------------------------------------------------------- nginx -t

$t->write_file('pool.conf', '');

for my $case (
    [ 'confhaven_otlp_endpoint collector:4318;', qr/OTLP\/HTTP traces URL/,
      'endpoint without a scheme' ],
    [ 'confhaven_otlp_endpoint http://127.0.0.1:1/v1/traces;
       confhaven_trace_sample_ratio 1.5;', qr/a number from 0 to 1/,
      'ratio above 1' ],
    [ 'confhaven_otlp_endpoint http://127.0.0.1:1/v1/traces;
       confhaven_trace_sample_ratio -1;', qr/a number from 0 to 1/,
      'negative ratio' ],
    [ 'confhaven_otlp_endpoint http://127.0.0.1:1/v1/traces;',
      qr/OTLP exports run on a thread pool/, 'no thread pool' ],
    [ "confhaven_otlp_endpoint http://127.0.0.1:1/v1/traces;
       confhaven_thread_pool default;
       confhaven_otlp_batch_size 100;
       confhaven_otlp_queue_size 10;", qr/must not be larger/,
      'batch larger than the queue' ],
    [ "confhaven_otlp_endpoint http://127.0.0.1:1/v1/traces;
       confhaven_thread_pool default;
       confhaven_otlp_batch_size 0;", qr/must be between 1 and 8192/,
      'batch 0' ],
  )
{
    my ($dirs, $re, $name) = @$case;
    $t->write_conf(<<"EOF");
http {
    $dirs
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location / { return 204; }
    }
}
EOF
    my ($rc, $out) = $t->test_config;
    ok($rc != 0 && $out =~ $re, "nginx -t: $name") or diag($out);
}

# ------------------------------------------------------- full tracing

$t->write_conf(conf(extra => "    confhaven_otlp_batch_size 64;\n"
                             . "    confhaven_otlp_timeout 2s;\n"
                             . "    confhaven_trace_sample_ratio 1;\n"));
$t->run();

my $r = $t->import_file('scottish-summit-2026',
                        'sessionize-all_scottish-summit-2026.json',
                        name => 'Scottish Summit 2026',
                        timezone => 'Europe/London');
is($r->{status}, 200, 'import');

# ---- REST: the client's trace, server span and its database children

my $tid = hex_id(16);
my $pid = hex_id(8);

$r = $t->http('GET', '/api/sessions?q=azure&conference=scottish-summit-2026',
              headers => [ traceparent => tp($tid, $pid),
                           tracestate => 'vendor=abc' ]);
is($r->{status}, 200, 'REST search answered');

my $spans = spans_of($tid, 3);
my ($server) = grep { $_->{kind} == 2 } @$spans;
ok($server, 'REST: a server span in the client\'s trace');
is($server->{parent_span_id}, $pid, 'REST: its parent is the client\'s span');
is($server->{attributes}{'http.request.method'}, 'GET',
   'REST: http.request.method');
is($server->{attributes}{'url.path'}, '/api/sessions', 'REST: url.path');
is($server->{attributes}{'http.response.status_code'}, 200,
   'REST: http.response.status_code');
ok(($server->{attributes}{'http.route'} // '') ne '', 'REST: http.route');
like($server->{name}, qr/^GET \S+/, 'REST: span name "GET route"');
is($server->{resource}{'service.name'}, 'conferencehaven',
   'resource: service.name');

my ($db) = grep { ($_->{attributes}{'db.system'} // '') eq 'postgresql' }
                @$spans;
ok($db, 'REST: a PostgreSQL span');
is($db->{parent_span_id}, $server->{span_id}, 'REST: db span under the server span');
is($db->{kind}, 3, 'REST: db span is a client span');
like($db->{attributes}{'db.query.summary'} // '', qr/^SELECT confhaven\.\w+$/,
     'REST: db.query.summary names the function');
ok(!grep({ /azure/i } map { values %{$_->{attributes}} }
         grep { ($_->{attributes}{'db.system'} // '') ne '' } @$spans),
   'REST: no query parameter in a db span');

my ($redis) = grep { ($_->{attributes}{'db.system'} // '') eq 'redis' } @$spans;
ok($redis, 'REST: a Redis span');
is($redis && $redis->{parent_span_id}, $server->{span_id},
   'REST: Redis span under the server span');
ok((!grep { $_->{start} > $_->{end} } @$spans), 'spans end after they start');

# the miss is stored in Redis after the answer: an EVAL span of its own
$spans = spans_of($tid, 5);
my @redis = grep { ($_->{attributes}{'db.system'} // '') eq 'redis' } @$spans;
my ($store) = grep { $_->{name} eq 'EVAL' } @redis;
ok($store, 'REST: the cache store (EVAL) is a Redis span')
    or diag(explain([ map { $_->{name} } @$spans ]));
is($store && $store->{parent_span_id}, $server->{span_id},
   'REST: the store under the server span');
is($store && $store->{attributes}{'db.operation.name'}, 'EVAL',
   'REST: db.operation.name EVAL');
is($store && $store->{kind}, 3, 'REST: the store is a client span');
ok($store && $store->{attributes}{'server.address'},
   'REST: Redis server.address');
ok(!grep({ /confhaven:|azure|redis\.|scottish/i }
         map { values %{$_->{attributes}} } @redis),
   'REST: no Redis key, value or script in a span');

# an import invalidates the cache: its EVAL in the import's trace
my $xtid = hex_id(16);
$r = $t->import_file('scottish-summit-2026',
                     'sessionize-all_scottish-summit-2026.json',
                     name => 'Scottish Summit 2026',
                     timezone => 'Europe/London',
                     headers => [ traceparent => tp($xtid, hex_id(8)) ]);
is($r->{status}, 200, 'import with a traceparent');
$spans = spans_of($xtid, 3);
my ($inval) = grep { ($_->{attributes}{'db.system'} // '') eq 'redis'
                     && $_->{name} eq 'EVAL' } @$spans;
ok($inval, 'import: the cache invalidation (EVAL) is a Redis span')
    or diag(explain([ map { $_->{name} } @$spans ]));

# ---- no traceparent: a new trace, whose id the logs show

$r = $t->http('GET', '/api/conferences');
my $own = $r->{headers}{'x-trace-id'} // '';
like($own, qr/^[0-9a-f]{32}$/, '$confhaven_trace_id: our own trace id');
$spans = spans_of($own, 1);
ok((grep { $_->{kind} == 2 && $_->{parent_span_id} eq '' } @$spans),
   'no traceparent: a root server span in that trace');
is($t->http('GET', '/api/conferences',
            headers => [ traceparent => tp($tid, $pid) ])
     ->{headers}{'x-trace-id'}, $tid,
   '$confhaven_trace_id: the client\'s when it sends one');

# ---- the caller's sampled flag decides (parent-based): 00 is not recorded

my $ntid = hex_id(16);
$r = $t->http('GET', '/api/sessions?q=unsampled&conference=scottish-summit-2026',
              headers => [ traceparent => "00-$ntid-" . hex_id(8) . '-00' ]);
is($r->{status}, 200, 'a request whose caller did not sample it');
is($r->{headers}{'x-trace-id'}, $ntid, '... still in the caller\'s trace');
my $stid = hex_id(16);
$t->http('GET', '/api/conferences',
         headers => [ traceparent => tp($stid, hex_id(8)) ]);
spans_of($stid, 1);
sleep(1.5);
is(scalar @{spans_of($ntid, 1, 0)}, 0,
   'traceparent flags 00: nothing exported (ratio 1)');

# ---- MCP: params._meta's traceparent, the tool span and its children

my $m = ConfHaven::MCP->new($t, path => '/mcp');
my $mtid = hex_id(16);
my $mpid = hex_id(8);

$r = $m->modern('tools/call', {
    name => 'search_sessions',
    arguments => { query => 'power platform', conference => 'scottish-summit-2026' },
    _meta => $m->meta(traceparent => tp($mtid, $mpid),
                      tracestate => 'x=1'),
}, headers => [ traceparent => tp(hex_id(16), hex_id(8)) ]);
is($r->{status}, 200, 'MCP tools/call answered');

$spans = spans_of($mtid, 4);
($server) = grep { $_->{kind} == 2 } @$spans;
ok($server, 'MCP: the server span joins _meta\'s trace, not the header\'s');
is($server && $server->{parent_span_id}, $mpid, 'MCP: its parent from _meta');
is($server && $server->{attributes}{'mcp.method.name'}, 'tools/call',
   'MCP: mcp.method.name on the server span');

my ($tool) = grep { $_->{name} eq 'tools/call search_sessions' } @$spans;
ok($tool, 'MCP: a tool span');
is($tool && $tool->{parent_span_id}, $server && $server->{span_id},
   'MCP: the tool span under the server span');
is($tool && $tool->{attributes}{'mcp.tool_name'}, 'search_sessions',
   'MCP: mcp.tool_name');
is($tool && $tool->{attributes}{'mcp.user.query'}, 'power platform',
   'MCP: mcp.user.query');
is($tool && $tool->{attributes}{'mcp.conference_slug'}, 'scottish-summit-2026',
   'MCP: mcp.conference_slug');
is($tool && $tool->{attributes}{'mcp.client_type'}, 'unknown',
   'MCP: mcp.client_type');

($db) = grep { ($_->{attributes}{'db.system'} // '') eq 'postgresql' } @$spans;
is($db && $db->{parent_span_id}, $tool && $tool->{span_id},
   'MCP: the query under the tool span');

# ---- an MCP session in the cluster: its Redis commands are spans too

my $citid = hex_id(16);
my ($csid) = $m->initialize('2025-11-25',
                           headers => [ traceparent => tp($citid, hex_id(8)) ]);
ok($csid, 'MCP session opened');
# initialize and notifications/initialized both carry the header: two
# server spans in one trace, in whichever order the workers export them
$spans = spans_of($citid, 3);
my ($isrv) = grep { $_->{kind} == 2
                    && ($_->{attributes}{'mcp.method.name'} // '')
                       eq 'initialize' } @$spans;
my ($ping) = grep { ($_->{attributes}{'db.system'} // '') eq 'redis'
                    && $_->{name} eq 'PING' } @$spans;
is($ping && $ping->{parent_span_id}, $isrv && $isrv->{span_id},
   'initialize: the wait for the registration (PING) under the server span');

my $dtid = hex_id(16);
$r = $m->t->http('DELETE', '/mcp',
                 headers => [ 'Mcp-Session-Id' => $csid // '',
                              'MCP-Protocol-Version' => '2025-11-25',
                              traceparent => tp($dtid, hex_id(8)) ]);
is($r->{status}, 200, 'DELETE of the session answered');
$spans = spans_of($dtid, 2);
my ($dsrv) = grep { $_->{kind} == 2 } @$spans;
my ($deval) = grep { ($_->{attributes}{'db.system'} // '') eq 'redis'
                     && $_->{name} eq 'EVAL' } @$spans;
is($deval && $deval->{parent_span_id}, $dsrv && $dsrv->{span_id},
   'DELETE: the session\'s Redis script (EVAL) under the server span');

# ---- an invite: Graph calls as client spans, traceparent propagated

my ($sid) = split /\n/, $t->psql(
    "SELECT id FROM confhaven.sessions WHERE start_at IS NOT NULL "
    . "AND end_at > start_at ORDER BY id LIMIT 1");
my $itid = hex_id(16);

$r = $m->modern('tools/call', {
    name => 'send_calendar_invite',
    arguments => { session_id => 0 + $sid, user_email => 'ada@example.org' },
    _meta => $m->meta(traceparent => tp($itid, hex_id(8)),
                      tracestate => 'congo=t61rcWkgMzE'),
});
is($r->{json}{result}{structuredContent}{status}, 'sent', 'MCP invite: sent')
    or diag($r->{body});

my @greq = grep { ($_->{traceparent} // '') =~ /^00-$itid-/ }
               @{$g->requests};
ok(scalar(grep { $_->{path} =~ m{/events} } @greq),
   'Graph: the create-event request carries our traceparent');
is(scalar(grep { ($_->{tracestate} // '') eq 'congo=t61rcWkgMzE' } @greq),
   scalar(@greq), 'Graph: the client\'s tracestate goes along');

$spans = spans_of($itid, 5);
($tool) = grep { $_->{name} eq 'tools/call send_calendar_invite' } @$spans;
my @client = grep { $_->{kind} == 3 && defined $_->{attributes}{'url.full'} }
                  @$spans;
ok(scalar @client, 'Graph: client spans recorded');
is(scalar(grep { $_->{parent_span_id} eq ($tool // {})->{span_id} } @client),
   scalar(@client), 'Graph: client spans under the tool span');
my %cs = map { $_->{span_id} => $_ } @client;
is(scalar(grep { my ($s) = $_->{traceparent} =~ /^00-\w+-(\w+)-/;
                 $cs{$s} } @greq),
   scalar(@greq), 'Graph: each request\'s parent-id is its client span');
my ($limit) = grep { ($_->{attributes}{'db.system'} // '') eq 'redis'
                     && $_->{name} eq 'EVAL' } @$spans;
ok($limit, 'invite: the rate limit (EVAL) is a Redis span');
is($limit && $limit->{parent_span_id}, ($tool // {})->{span_id},
   'invite: the rate limit under the tool span');
my ($ev) = grep { ($_->{attributes}{'url.full'} // '') =~ m{/events$} } @client;
is($ev && $ev->{attributes}{'http.response.status_code'}, 201,
   'Graph: http.response.status_code');
is($ev && $ev->{attributes}{'http.request.method'}, 'POST',
   'Graph: http.request.method');

# a tracestate that is not W3C's (a CR LF from a JSON string) is dropped,
# never written into the request to Graph; the traceparent still goes
$xtid = hex_id(16);
$r = $m->modern('tools/call', {
    name => 'send_calendar_invite',
    arguments => { session_id => 0 + $sid, user_email => 'mallory@example.org' },
    _meta => $m->meta(traceparent => tp($xtid, hex_id(8)),
                      tracestate => "v=1\r\nX-Injected: yes\r\n"
                                    . "Authorization: Bearer attacker"),
});
is($r->{json}{result}{structuredContent}{status}, 'sent',
   'MCP invite with a CR LF tracestate: sent') or diag($r->{body});
my @xreq = grep { ($_->{traceparent} // '') =~ /^00-$xtid-/ }
               @{$g->requests};
ok(scalar(grep { $_->{path} =~ m{/events} } @xreq),
   'CR LF tracestate: the traceparent still reaches Graph');
is(scalar(grep { !defined $_->{tracestate}
                 && !grep({ $_ eq 'x-injected' } @{$_->{header_names}}) }
          @xreq),
   scalar(@xreq), 'CR LF tracestate: no tracestate, no injected header');

# a repeat: already_sent, nothing sent
$r = $m->modern('tools/call', {
    name => 'send_calendar_invite',
    arguments => { session_id => 0 + $sid, user_email => 'ada@example.org' },
});
is($r->{json}{result}{structuredContent}{status}, 'already_sent',
   'MCP invite repeat: already_sent');

# ---- collector side and counters

my $st = collector('stats');
is(scalar @{$st->{errors}}, 0, 'collector: every export decoded')
    or diag(explain($st->{errors}));
is_deeply([keys %{$st->{content_types}}], ['application/x-protobuf'],
          'collector: application/x-protobuf');

# everything recorded has been exported once the queues are empty
my ($s, $body);
my $end = time() + 15;
do {
    sleep(0.5);
    ($s, $body) = scrape();
    $st = collector('stats');
} while (($s->{confhaven_spans_exported_total} // -1) != $st->{spans}
         && time() < $end);
is($s->{confhaven_spans_exported_total}, $st->{spans},
   'confhaven_spans_exported_total = spans the collector got');
is($s->{confhaven_spans_dropped_total}, 0, 'no span dropped');
is($s->{confhaven_otlp_export_failures_total}, 0, 'no export failed');
is($s->{'confhaven_invites_total{outcome="sent"}'}, 2, 'invites sent: 2');
is($s->{'confhaven_invites_total{outcome="already_sent"}'}, 1,
   'invites already_sent: 1');
is($s->{'confhaven_invites_total{outcome="failed"}'}, 0, 'invites failed: 0');

SKIP: {
    my $promtool = ConfHaven::Test::_which('promtool');
    skip 'no promtool (Debian package prometheus)', 1 unless $promtool;
    $t->write_file('scrape.txt', $body);
    my $out = `$promtool check metrics < @{[$t->testdir]}/scrape.txt 2>&1`;
    is($? >> 8, 0, 'promtool check metrics') or diag($out);
}

$r = $t->http('GET', '/health');
is($r->{json}{tracing}{status}, 'ok', '/health: tracing ok');

# ---- a slow collector: answers go on, failed exports are counted

collector('mode', { delay_ms => 6000 });
my $ok = 0;
for my $i (1 .. 20) {
    $r = $t->http('GET', "/api/sessions?q=slow$i");
    $ok++ if $r->{status} == 200;
}
is($ok, 20, 'collector slow: every request answered');

$end = time() + 20;
do {
    sleep(0.5);
    ($s) = scrape();
} while (($s->{confhaven_otlp_export_failures_total} // 0) == 0
         && time() < $end);
ok($s->{confhaven_otlp_export_failures_total} >= 1,
   'collector slow: timed-out exports counted');
ok($s->{confhaven_spans_dropped_total} >= 1,
   'collector slow: their spans counted as dropped');

# ---- a refusing collector

collector('mode', { delay_ms => 0, status => 503 });
my $before = $s->{confhaven_otlp_export_failures_total};
$ok = 0;
for my $i (1 .. 10) {
    $ok++ if $t->http('GET', "/api/sessions?q=refused$i")->{status} == 200;
}
is($ok, 10, 'collector refusing: every request answered');
$end = time() + 15;
do {
    sleep(0.5);
    ($s) = scrape();
} while ($s->{confhaven_otlp_export_failures_total} == $before
         && time() < $end);
ok($s->{confhaven_otlp_export_failures_total} > $before,
   'collector refusing: failures counted');

$r = $t->http('GET', '/health');
ok(defined $r->{json}{tracing}{dropped}, '/health: tracing.dropped');

# ------------------------------------------- ratio 0, small queue, drops

$t->stop();
collector('mode', { delay_ms => 0, status => 200 });
collector('reset', {});

$t->write_conf(conf(extra => <<'EOF'), worker_processes => 1);
    confhaven_trace_sample_ratio 0;
    confhaven_events_buffer 2;
    confhaven_events_flush_interval 1h;
    confhaven_cache_local 1m;
EOF
$t->run();

# the caller's flag wins over the ratio: 01 recorded, 00 not, none alone
my @on = map { hex_id(16) } 1 .. 3;
my @off = map { hex_id(16) } 1 .. 3;
for my $i (0 .. 2) {
    $t->http('GET', "/api/sessions?q=ratio$i",
             headers => [ traceparent => tp($on[$i], hex_id(8)) ]);
    $t->http('GET', "/api/sessions?q=ratiooff$i",
             headers => [ traceparent => "00-$off[$i]-" . hex_id(8) . '-00' ]);
}
$m->modern('tools/call', { name => 'search_sessions',
                           arguments => { query => 'ratio zero' } });
sleep(2.5);
my $all = collector('spans') // [];
my %seen = map { $_->{trace_id} => 1 } grep { $_->{kind} == 2 } @$all;
is(scalar(grep { $seen{$_} } @on), 3,
   'ratio 0: a caller\'s sampled trace (01) is recorded all the same');
is(scalar(grep { $seen{$_} } @off), 0,
   'ratio 0: a caller\'s unsampled trace (00) is not');
# the stopped instance's workers may still flush their own spans (tool
# calls among them) after the reset: look for this tool call's query
is(scalar(grep { ($_->{attributes}{'mcp.user.query'} // '') eq 'ratio zero' }
          @$all), 0,
   'ratio 0: no trace of our own is recorded (the tool call)');

($s, $body) = scrape();
# 6 searches + 1 tool call (itself a search) into a buffer of 2
is($s->{confhaven_analytics_events_dropped_total}, 5,
   'analytics events dropped: 5 of 7 into a buffer of 2');
is($s->{'confhaven_redis_subscriber_connections{state="ok"}'}, 1,
   'Redis subscriber gauge: ok');

# the decision goes on to Graph in the traceparent's flags
my ($gid0, $gid1) = (hex_id(16), hex_id(16));
for my $c ([ $gid0, '00', 'bob@example.org' ], [ $gid1, '01', 'eve@example.org' ]) {
    $r = $m->modern('tools/call', {
        name => 'send_calendar_invite',
        arguments => { session_id => 0 + $sid, user_email => $c->[2] },
        _meta => $m->meta(traceparent => "00-$c->[0]-" . hex_id(8) . "-$c->[1]"),
    });
}
is($r->{json}{result}{structuredContent}{status}, 'sent', 'invites sent')
    or diag($r->{body});
my @g0 = grep { ($_->{traceparent} // '') =~ /^00-$gid0-/ } @{$g->requests};
ok(@g0 && !grep({ $_->{traceparent} !~ /-00$/ } @g0),
   'Graph: an unsampled caller\'s trace goes on unsampled (-00)')
    or diag(explain(\@g0));
my @g1 = grep { ($_->{traceparent} // '') =~ /^00-$gid1-/ } @{$g->requests};
ok(@g1 && !grep({ $_->{traceparent} !~ /-01$/ } @g1),
   'Graph: a sampled caller\'s trace goes on sampled (-01), ratio 0')
    or diag(explain(\@g1));

$t->stop();
$t->write_conf(conf(extra => <<'EOF'), worker_processes => 1);
    confhaven_otlp_queue_size 4;
    confhaven_otlp_batch_size 4;
EOF
collector('mode', { delay_ms => 3000 });
$t->run();

# while the first export waits at the collector, the queue of 4 fills
for my $i (1 .. 12) {
    $t->http('GET', "/api/sessions?q=queue$i");
    sleep(0.1) if $i == 2;
}
($s) = scrape();
ok($s->{confhaven_spans_dropped_total} >= 1,
   'a full span queue drops and counts');
collector('mode', { delay_ms => 0 });

# ---- a collector that refuses at once: no export per full batch
# (each would fail at once and the next batch is full at once: a loop of
# export jobs); while it fails, the 1 s timer alone exports

$t->stop();
$t->write_conf(conf(extra => <<'EOF'), worker_processes => 1);
    confhaven_otlp_queue_size 2048;
    confhaven_otlp_batch_size 4;
EOF
collector('mode', { delay_ms => 0, status => 503 });
$t->run();

$t->http('GET', '/api/conferences');
$end = time() + 10;
sleep(0.25) while collector('stats')->{requests} < 1 && time() < $end;

my $sent = collector('stats')->{requests};
my $t0 = time();
for my $i (1 .. 200) {
    $t->http('GET', '/api/conferences');
}
my $exports = collector('stats')->{requests} - $sent;
my $secs = time() - $t0;
# 200 requests make 50 batches of 4: a loop would try nearly all of them
cmp_ok($exports, '<', 25,
       "collector refusing: $exports exports for 50 batches in ${secs}s")
    or diag("took ${secs}s");
collector('mode', { delay_ms => 0, status => 200 });
