#!/usr/bin/perl

# get_organizer_analytics (issue 10): a known sequence of searches and
# session views sent through REST and every MCP wire (Streamable HTTP with
# a session, the stateless 2026-07-28 wire, the legacy /sse wire, a
# resource read), cache hits included, and the numbers an organizer gets
# back: over REST (JSON and CSV) and as the MCP tool on each wire, with the
# key in a header or (legacy) in the api_key argument.  Another
# organizer's conference is refused everywhere exactly like one that does
# not exist; a missing or wrong key is a 401 / a tool error that says how
# to authenticate.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

use ConfHaven::Test;
use ConfHaven::MCP;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->worker_processes(1);
$t->private_redis();
$t->plan(60);

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";
confhaven_redis_server redis://%%REDIS%%;
confhaven_events_flush_interval 200ms;

server {
    listen 127.0.0.1:%%PORT_1%%;
    add_header X-Cache-Status $confhaven_cache_status always;

    location = /mcp {
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

my $SC = 'scottish-summit-2026';
my $QA = 'qa-or-the-highway-2026';

is($t->import_file($SC, 'sessionize-all_scottish-summit-2026.json',
                   name => 'Scottish Summit 2026',
                   timezone => 'Europe/London')->{status}, 200, "import $SC");
is($t->import_file($QA, 'sessionize-all_qa-or-the-highway-2026.json',
                   name => 'QA or the Highway 2026',
                   timezone => 'America/New_York')->{status}, 200, "import $QA");

my @admin = ('Authorization' => 'Bearer ' . $t->admin_key);

sub organizer {
    my ($name, $slug) = @_;
    my $r = $t->http('POST', "/api/admin/organizers?name=$name&tier=pro", headers => [@admin]);
    my $id = $r->{json}{id};
    $t->http('POST', "/api/admin/organizers/$id/conferences/$slug", headers => [@admin]);
    $r = $t->http('POST', "/api/admin/organizers/$id/keys", headers => [@admin]);
    return $r->{json}{key};
}

my $ka = organizer('A', $SC);
my $kb = organizer('B', $QA);
ok($ka && $kb, 'two organizers with a key each');

my ($id1, $id2) = split /\n/, $t->psql(
    "SELECT s.id FROM confhaven.sessions s JOIN confhaven.conferences c "
    . "ON c.id = s.conference_id WHERE c.slug = '$SC' ORDER BY s.id LIMIT 2");

# ---- the sequence (conference A unless said)

sub rest {
    my ($path, $ua) = @_;
    return $t->http('GET', $path, headers => [ 'User-Agent' => $ua ]);
}

my $r = rest("/api/sessions?q=copilot&conference=$SC&include_past=true", 'Claude-User/1.0');
my $found = scalar @{ $r->{json}{sessions} // [] };
ok($found > 0, "REST search: $found sessions");
rest("/api/sessions?q=copilot&conference=$SC&include_past=true", 'Claude-User/1.0');
$r = rest("/api/sessions?q=copilot&conference=$SC&include_past=true", 'Claude-User/1.0');
is($r->{headers}{'x-cache-status'}, 'HIT', 'the same search again: a cache hit');
$r = rest("/api/sessions?q=zzqqxx&conference=$SC&include_past=true", 'ChatGPT-User/1.0');
is(scalar @{ $r->{json}{sessions} // [1] }, 0, 'a search that finds nothing');
rest("/api/sessions/$id1", 'ChatGPT-User/1.0');
$r = rest("/api/sessions/$id1", 'ChatGPT-User/1.0');
is($r->{headers}{'x-cache-status'}, 'HIT', 'a session view, twice (a cache hit)');
rest("/api/sessions?q=testing&conference=$QA", 'Claude-User/1.0');

# Streamable HTTP with a session
my $m = ConfHaven::MCP->new($t, path => '/mcp');
# the assistant is initialize's clientInfo.name, kept with the session
# (its User-Agent says nothing)
my @vsc = ('User-Agent' => 'node');
$r = $m->request('initialize', { protocolVersion => '2025-11-25', capabilities => {},
                                 clientInfo => { name => 'Visual Studio Code', version => '1.95' } },
                 headers => [@vsc]);
my $sid = $r->{headers}{'mcp-session-id'};
$m->notify('notifications/initialized', undef, session => $sid, version => '2025-11-25',
           headers => [@vsc]);
ok($sid, 'Streamable HTTP session');
$r = $m->request('tools/call', { name => 'search_sessions',
                                 arguments => { query => 'copilot', conference => $SC,
                                                include_past => JSON::PP::true } },
                 session => $sid, version => '2025-11-25', headers => [@vsc]);
ok(!$r->{json}{result}{isError}, 'MCP search_sessions');
$m->request('tools/call', { name => 'get_session', arguments => { session_id => $id1 + 0 } },
            session => $sid, version => '2025-11-25', headers => [@vsc]);
$r = $m->request('resources/read', { uri => "confhaven://sessions/$id2" },
                 session => $sid, version => '2025-11-25');
ok($r->{json}{result}{contents}, 'MCP resources/read of a session');

# stateless 2026-07-28, clientInfo "LM Studio"
my $meta = $m->meta('io.modelcontextprotocol/clientInfo' => { name => 'LM Studio', version => '0.3' });
$r = $m->modern('tools/call', { name => 'search_sessions', _meta => $meta,
                                arguments => { query => 'nothingatall', conference => $SC,
                                               include_past => JSON::PP::true } });
ok($r->{json}{result}, 'stateless search_sessions');
$m->modern('tools/call', { name => 'get_session', _meta => $meta,
                           arguments => { session_id => $id2 + 0 } });

# legacy SSE
my $sse = ConfHaven::MCP->new($t, path => '/sse');
my $s = $sse->open_stream('GET', '/sse', headers => [ 'Accept' => 'text/event-stream',
                                                      'X-API-Key' => $ka ]);
$sse->read_until($s, sub { my @e = $sse->events($_[0]{body}); @e >= 1 }, 5);
my ($ep) = $sse->events($sse->response($s)->{body});
my $post = $ep->{data} // '';
ok($post =~ m{^/sse/messages\?sessionId=}, 'legacy SSE stream');

my $n = 0;
sub sse_call {
    my ($msg, %o) = @_;
    $msg->{jsonrpc} = '2.0';
    $msg->{id} = ++$n + 1000;
    my $pr = $t->post_json($post, $msg, headers => $o{headers} // []);
    my $id = $msg->{id};
    $sse->read_until($s, sub {
        grep { ($_->{json}{id} // 0) == $id } $sse->events($_[0]{body}) }, 10);
    my ($ev) = grep { ($_->{json}{id} // 0) == $id } $sse->events($sse->response($s)->{body});
    return $ev ? $ev->{json} : { post_status => $pr->{status} };
}
sse_call({ method => 'initialize', params => { protocolVersion => '2024-11-05',
           capabilities => {}, clientInfo => { name => 'claude-ai', version => '1' } } });
$t->post_json($post, { jsonrpc => '2.0', method => 'notifications/initialized' });
$r = sse_call({ method => 'tools/call', params => { name => 'search_sessions',
               arguments => { query => 'Copilot', conference => $SC,
                              include_past => JSON::PP::true } } });
ok($r->{result} && !$r->{result}{isError}, 'legacy SSE search_sessions');

# ---- what organizer A sees (REST), once the buffer is written

my $a;
my $deadline = time + 15;
while (time < $deadline) {
    $r = $t->http('GET', "/api/organizer/analytics?conference=$SC&days=7",
                  headers => [ 'X-API-Key' => $ka ]);
    $a = $r->{json};
    last if ($a->{totals}{searches} // 0) >= 7 && ($a->{totals}{session_views} // 0) >= 5;
    sleep 0.2;
}
is($r->{status}, 200, 'REST analytics: 200');
is($a->{conference}{slug}, $SC, '... for the conference');
is($a->{totals}{searches}, 7, '... 7 searches (cache hits included, all wires)');
is($a->{totals}{zero_result_searches}, 2, '... 2 found nothing');
is($a->{totals}{session_views}, 5, '... 5 session views (tools, REST, resource)');
ok($a->{totals}{cache_hits} >= 2, "... $a->{totals}{cache_hits} answered from the cache");
my %q = map { $_->{query} => $_->{count} } @{ $a->{top_queries} };
is_deeply(\%q, { copilot => 5, zzqqxx => 1, nothingatall => 1 }, '... top queries');
is_deeply([ map { "$_->{query}=$_->{count}" } @{ $a->{zero_result_queries} } ],
          [ 'nothingatall=1', 'zzqqxx=1' ], '... zero-result queries with counts');
is_deeply([ map { "$_->{session_id}=$_->{count}" } @{ $a->{most_viewed} } ],
          [ "$id1=3", "$id2=2" ], '... most viewed sessions');
ok($a->{most_viewed}[0]{title}, '... with their titles');
is(scalar @{ $a->{most_found} }, $found < 20 ? $found : 20, '... most found: the sessions the searches listed');
is($a->{most_found}[0]{count}, 5, '... each found by the 5 copilot searches');
my %as = map { $_->{assistant} => $_->{count} } @{ $a->{assistants} };
is_deeply(\%as, { claude => 4, chatgpt => 3, copilot => 3, 'lm-studio' => 2 },
          '... which assistants ask (User-Agent; clientInfo on every wire, kept '
          . 'with Streamable HTTP and legacy /sse sessions)');
my %w = map { $_->{wire} => $_->{count} } @{ $a->{wires} };
is_deeply(\%w, { rest => 6, 'mcp-http' => 3, 'mcp-stateless' => 2, 'mcp-sse' => 1 },
          '... by wire');
my $tracks = 0;
$tracks += $_->{count} for @{ $a->{interest}{by_track} };
is($tracks, 5, '... interest by track counts the views');
ok(@{ $a->{interest}{by_level} } && @{ $a->{interest}{by_day} }, '... by level and by day');
is($a->{searches_per_day}[-1]{searches}, 7, '... searches per day (today)');
is(scalar @{ $a->{searches_per_day} }, 7, '... one row per day of the window');
is($a->{latency_ms}{samples}, 12, '... latency percentiles over 12 answers');
ok(defined $a->{latency_ms}{p50} && $a->{latency_ms}{p99} >= $a->{latency_ms}{p50},
   '... p50 <= p99');

is($r->{headers}{'cache-control'}, 'private, no-store',
   '... never kept by a shared cache (Cache-Control: private, no-store)');

# CSV
$r = $t->http('GET', "/api/organizer/analytics.csv?conference=$SC&days=7",
              headers => [ 'X-API-Key' => $ka ]);
is($r->{headers}{'cache-control'}, 'private, no-store',
   'CSV export: private, no-store');
like($r->{headers}{'content-type'} // '', qr{^text/csv}, 'CSV export: text/csv');
like($r->{body}, qr/^section,key,label,count\r?\n/, '... a header line');
like($r->{body}, qr/^top_query,copilot,,5$/m, '... the rows');
$r = $t->http('GET', "/api/organizer/analytics?conference=$SC&format=csv",
              headers => [ 'Authorization' => "Bearer $ka" ]);
like($r->{body}, qr/^zero_result_query,zzqqxx,,1$/m, '... also as format=csv');

$r = $t->http('GET', "/api/organizer/analytics?conference=$SC");
is($r->{status} . ' ' . ($r->{headers}{'cache-control'} // ''),
   '401 private, no-store', 'no key: 401, not kept by a cache either');

# B sees its own search only
$r = $t->http('GET', "/api/organizer/analytics?conference=$QA",
              headers => [ 'X-API-Key' => $kb ]);
is($r->{json}{totals}{searches}, 1, 'B: its one search, nothing of A');

# ---- the MCP tool on each wire

$r = $m->request('tools/call', { name => 'get_organizer_analytics',
                                 arguments => { conference_id => $SC, days => 7 } },
                 session => $sid, version => '2025-11-25',
                 headers => [ 'X-API-Key' => $ka ]);
my $res = $r->{json}{result} // {};
ok(!$res->{isError}, 'MCP (session): the tool with X-API-Key');
is($res->{structuredContent}{totals}{searches}, 7, '... the same numbers');
like($res->{content}[0]{text} // '', qr/7 searches \(2 found nothing\)/, '... and a summary');

$r = $m->modern('tools/call', { name => 'get_organizer_analytics',
                                arguments => { conference_id => $SC } },
                headers => [ 'Authorization' => "Bearer $ka" ]);
is($r->{json}{result}{structuredContent}{totals}{session_views}, 5,
   'MCP (stateless): with Authorization: Bearer');

$r = sse_call({ method => 'tools/call', params => { name => 'get_organizer_analytics',
               arguments => { conference_id => $SC } } },
              headers => [ 'X-API-Key' => $ka ]);
is($r->{result}{structuredContent}{totals}{searches}, 7, 'MCP (legacy SSE): with X-API-Key');

# the key on the stream's GET only: it authorizes the session's POSTs
$r = sse_call({ method => 'tools/call', params => { name => 'get_organizer_analytics',
               arguments => { conference_id => $SC } } });
ok($r->{result} && !$r->{result}{isError}, 'MCP (legacy SSE): the key of the stream GET only')
    or diag explain $r;
is($r->{result}{structuredContent}{totals}{searches}, 7, '... the same numbers');
{
    # a wrong key on the stream: the authentication tool error
    my $s2 = $sse->open_stream('GET', '/sse', headers => [ 'Accept' => 'text/event-stream',
        'X-API-Key' => 'chk_' . substr($ka, 4, 12) . '_' . ('0' x 48) ]);
    $sse->read_until($s2, sub { my @e = $sse->events($_[0]{body}); @e >= 1 }, 5);
    my ($ep2) = $sse->events($sse->response($s2)->{body});
    my $post2 = $ep2->{data} // '';
    my $call2 = sub {
        my ($msg, @h) = @_;
        $msg->{jsonrpc} = '2.0';
        $msg->{id} = ++$n + 2000;
        $t->post_json($post2, $msg, headers => [@h]);
        my $id = $msg->{id};
        $sse->read_until($s2, sub {
            grep { ($_->{json}{id} // 0) == $id } $sse->events($_[0]{body}) }, 10);
        my ($ev) = grep { ($_->{json}{id} // 0) == $id }
                   $sse->events($sse->response($s2)->{body});
        return $ev ? $ev->{json} : {};
    };
    $call2->({ method => 'initialize', params => { protocolVersion => '2024-11-05',
               capabilities => {}, clientInfo => { name => 'x', version => '1' } } });
    $r = $call2->({ method => 'tools/call', params => { name => 'get_organizer_analytics',
                    arguments => { conference_id => $SC } } });
    ok($r->{result}{isError}, 'MCP (legacy SSE): a wrong key on the stream: a tool error');
    like($r->{result}{content}[0]{text} // '', qr/Authentication required.*X-API-Key/s,
         '... that says how to authenticate');
    $r = $call2->({ method => 'tools/call', params => { name => 'get_organizer_analytics',
                    arguments => { conference_id => $SC } } }, 'X-API-Key' => $ka);
    ok($r->{result} && !$r->{result}{isError}, '... a right key on the POST still wins');
    close $s2->{sock};
}

$r = $m->request('tools/call', { name => 'get_organizer_analytics',
                                 arguments => { conference_id => $SC, api_key => $ka } },
                 session => $sid, version => '2025-11-25');
is($r->{json}{result}{structuredContent}{totals}{searches}, 7,
   'MCP: the legacy api_key argument is accepted');

$r = $m->request('tools/call', { name => 'get_organizer_analytics',
                                 arguments => { conference_id => $SC } },
                 session => $sid, version => '2025-11-25');
$res = $r->{json}{result} // {};
ok($res->{isError}, 'MCP without a key: a tool error');
like($res->{content}[0]{text} // '', qr/Authentication required.*X-API-Key/s,
     '... that says how to authenticate');

# ---- cross-tenant, everywhere: the same as a conference that does not exist

my @texts;
for my $c ($QA, 'no-such-conference') {
    my @got;
    $r = $t->http('GET', "/api/organizer/analytics?conference=$c",
                  headers => [ 'X-API-Key' => $ka ]);
    push @got, "rest:$r->{status}:" . ($r->{json}{error}{message} // '');
    $r = $t->http('GET', "/api/organizer/analytics.csv?conference=$c",
                  headers => [ 'X-API-Key' => $ka ]);
    push @got, "csv:$r->{status}";
    $r = $m->request('tools/call', { name => 'get_organizer_analytics',
                                     arguments => { conference_id => $c } },
                     session => $sid, version => '2025-11-25',
                     headers => [ 'X-API-Key' => $ka ]);
    push @got, 'session:' . ($r->{json}{result}{isError} ? 1 : 0) . ':'
        . ($r->{json}{result}{content}[0]{text} // '');
    $r = $m->modern('tools/call', { name => 'get_organizer_analytics',
                                    arguments => { conference_id => $c } },
                    headers => [ 'X-API-Key' => $ka ]);
    push @got, 'stateless:' . ($r->{json}{result}{isError} ? 1 : 0);
    $r = sse_call({ method => 'tools/call', params => { name => 'get_organizer_analytics',
                   arguments => { conference_id => $c } } },
                  headers => [ 'X-API-Key' => $ka ]);
    push @got, 'sse:' . ($r->{result}{isError} ? 1 : 0);
    my $txt = join '|', @got;
    $txt =~ s/\Q$c\E/X/g;
    push @texts, $txt;
}
like($texts[0], qr/^rest:404:.*\|csv:404\|session:1:.*\|stateless:1\|sse:1$/,
     "A asking for B's conference: refused on REST, CSV and each MCP wire");
is($texts[0], $texts[1], '... exactly as for a conference that does not exist');

$r = $t->http('GET', "/api/organizer/analytics?conference=$SC&days=0",
              headers => [ 'X-API-Key' => $ka ]);
is($r->{status}, 400, 'days=0: 400');
$r = $t->http('GET', "/api/organizer/analytics?conference=$SC&days=731",
              headers => [ 'X-API-Key' => $ka ]);
is($r->{status}, 400, 'days=731: 400');
$r = $t->http('GET', "/api/organizer/analytics?conference=$SC");
is($r->{status}, 401, 'no key: 401');
$r = $t->http('GET', "/api/sessions?q=copilot&conference=$SC");
is($r->{status} . ' ' . ($r->{headers}{'cache-control'} // 'none'),
   '200 none', 'a public search without a key: no Cache-Control');

close $s->{sock};
