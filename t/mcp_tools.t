#!/usr/bin/perl

# MCP tools over Streamable HTTP with a session (three workers): tools/list
# (names, titles, descriptions, 2020-12 input schemas with bounds, enums
# and additionalProperties false, output schemas, annotations, x-mcp-header;
# version-dependent fields), tools/call of search_sessions, get_session and
# list_conferences on imported sample schedules (structuredContent matching
# the REST answer, concise text), argument errors and unknown data as
# isError results with a hint, conference names and years resolved to the
# slug, unknown tools as -32602, and JSON-RPC batches on 2025-03-26 only.

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;
use ConfHaven::MCP;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(3)->plan(101);

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
is($r->{status}, 200, 'import scottish-summit-2026');
$r = $t->import_file('pycon-au-2024', 'pretalx_pycon-au-2024.schedule.json',
                     name => 'PyCon AU 2024', timezone => 'Australia/Melbourne');
is($r->{status}, 200, 'import pycon-au-2024');

my $m = ConfHaven::MCP->new($t);
my ($sid) = $m->initialize('2025-11-25');
ok($sid, 'session');

sub call {
    my ($name, $args, %o) = @_;
    my $r = $m->request('tools/call', { name => $name,
                                         (defined $args ? (arguments => $args) : ()) },
                        session => $o{session} // $sid, version => $o{version});
    return ($r, $r->{json}{result} // {});
}

sub text { join "\n", map { $_->{text} // '' } @{ $_[0]{content} // [] } }


# ---- tools/list

$r = $m->request('tools/list', undef, session => $sid, version => '2025-11-25');
is($r->{status}, 200, 'tools/list: 200');
my @tools = @{ $r->{json}{result}{tools} // [] };
is_deeply([map { $_->{name} } @tools],
          [qw(search_sessions get_session list_conferences
                 send_calendar_invite get_organizer_analytics)],
          'tool names, in order');
my %tool = map { $_->{name} => $_ } @tools;

for my $tl (@tools) {
    my $n = $tl->{name};
    ok(length($tl->{title} // '') && length($tl->{description} // '') > 150,
       "$n: title and a real description");
    is_deeply([@{$tl->{inputSchema}}{qw(type additionalProperties)}],
              ['object', JSON::PP::false], "$n: inputSchema object, closed");
    is($tl->{inputSchema}{'$schema'}, 'https://json-schema.org/draft/2020-12/schema',
       "$n: JSON Schema 2020-12");
    is($tl->{outputSchema}{type}, 'object', "$n: outputSchema");
    # send_calendar_invite mails someone: not read-only, open world
    my $writes = $n eq 'send_calendar_invite';
    is_deeply($tl->{annotations} && [@{$tl->{annotations}}{qw(readOnlyHint openWorldHint idempotentHint destructiveHint)}],
              [$writes ? JSON::PP::false : JSON::PP::true,
               $writes ? JSON::PP::true : JSON::PP::false,
               JSON::PP::true, JSON::PP::false],
              "$n: annotations");
}

my $sp = $tool{search_sessions}{inputSchema}{properties};
is_deeply([sort keys %$sp],
          [sort qw(query conference track level limit include_past
                   speaker room day starts_after starts_before language offset cursor)],
          'search_sessions: the original parameters and the optional filters');
is_deeply($tool{search_sessions}{inputSchema}{required} // [], [], 'search_sessions: nothing required');
is_deeply($sp->{level}{enum}, [qw(Introductory Intermediate Advanced)], 'level enum');
is_deeply([@{$sp->{limit}}{qw(type minimum maximum)}], ['integer', 1, 50], 'limit bounds');
is($sp->{conference}{'x-mcp-header'}, 'Conference', 'conference: x-mcp-header');
is_deeply($tool{get_session}{inputSchema}{required}, ['session_id'], 'get_session: session_id required');

my ($old) = $m->initialize('2024-11-05');
$r = $m->request('tools/list', undef, session => $old);
my $t0 = $r->{json}{result}{tools}[0] // {};
ok(!exists $t0->{outputSchema} && !exists $t0->{annotations} && !exists $t0->{title},
   '2024-11-05: no title, outputSchema or annotations');

$r = $m->request('tools/list', { cursor => 'nope' }, session => $sid);
is($r->{json}{error}{code}, -32602, 'tools/list with an unknown cursor: -32602');


# ---- search_sessions

my ($c, $res) = call('search_sessions', { query => 'copilot agents',
                                          conference => 'scottish-summit-2026',
                                          limit => 5, include_past => JSON::PP::true });
is($c->{status}, 200, 'search: 200');
is($res->{isError}, JSON::PP::false, 'search: isError false');
my $sc = $res->{structuredContent} // {};
is($sc->{count}, 5, 'search: 5 results');
is($sc->{query}{conference}, 'scottish-summit-2026', 'search: query echo');
my $rest = $t->get_json('/api/sessions?q=copilot+agents&conference=scottish-summit-2026'
                        . '&limit=5&include_past=true');
is_deeply([map { $_->{id} } @{$sc->{sessions}}],
          [map { $_->{id} } @{$rest->{json}{sessions}}],
          'search: the same sessions as the REST API');
my $txt = text($res);
like($txt, qr/^5 sessions for "copilot agents" at scottish-summit-2026:/, 'search text: summary line');
my $first = $sc->{sessions}[0];
like($txt, qr/\[\Q$first->{id}\E\] \Q$first->{title}\E/, 'search text: id and title');
like($txt, qr/\d{4}-\d\d-\d\d \d\d:\d\d–\d\d:\d\d \(Europe\/London\)/, 'search text: local times');
ok(length($txt) < 4000, 'search text: concise');

($c, $res) = call('search_sessions', {});
is($res->{isError}, JSON::PP::false, 'search with {}: a result, not an error');

# the filters and paging of sql/functions/50_search.sql, as in the REST API
my %fa = (conference => 'scottish-summit-2026', include_past => JSON::PP::true,
          starts_after => '12:00', speaker => 'ma', limit => 2);
($c, $res) = call('search_sessions', \%fa);
$sc = $res->{structuredContent} // {};
$rest = $t->get_json('/api/sessions?conference=scottish-summit-2026&include_past=true'
                     . '&starts_after=12:00&speaker=ma&limit=2');
is_deeply([map { $_->{id} } @{$sc->{sessions} // []}],
          [map { $_->{id} } @{$rest->{json}{sessions} // []}], 'filters: the same sessions as REST');
ok(!exists $sc->{facets} && exists $rest->{json}{facets}, 'filters: facets in REST only');
like(text($res), qr/speaker "ma".*cursor "[0-9a-f]+"/s, 'filters: text names them and the next cursor');
($c, $res) = call('search_sessions', { %fa, cursor => $sc->{next_cursor} });
is_deeply([map { $_->{id} } @{$res->{structuredContent}{sessions} // []}],
          [map { $_->{id} } @{$t->get_json('/api/sessions?conference=scottish-summit-2026'
                  . '&include_past=true&starts_after=12:00&speaker=ma&limit=2'
                  . '&offset=2')->{json}{sessions} // []}], 'cursor: the second page');
($c, $res) = call('search_sessions', { day => 'someday' });
ok($res->{isError} && text($res) =~ /"day".*YYYY-MM-DD/, 'bad day: isError naming the parameter');

($c, $res) = call('search_sessions', undef);
is($res->{isError}, JSON::PP::false, 'search without arguments: a result');

($c, $res) = call('search_sessions', { conference => 'pycon-au-2024', level => 'advanced',
                                       limit => '3', include_past => 'true' });
is($res->{isError}, JSON::PP::false, 'lenient: level lowercase, limit and include_past as strings');
is($res->{structuredContent}{query}{level}, 'Advanced', 'level normalized');

# names and years resolve to the slug
for my $given ('Scottish Summit 2026', 'scottish summit 26', 'SCOTTISH-SUMMIT-2026', 'scottishsummit26') {
    ($c, $res) = call('search_sessions', { conference => $given, include_past => JSON::PP::true, limit => 1 });
    is($res->{structuredContent}{query}{conference}, 'scottish-summit-2026', "conference \"$given\" resolved");
}
($c, $res) = call('search_sessions', { conference => 'PyCon AU', include_past => JSON::PP::true, limit => 1 });
is($res->{structuredContent}{query}{conference}, 'pycon-au-2024', 'name without the year resolves when unique');

# tool errors: isError with a hint
($c, $res) = call('search_sessions', { conference => 'nosuchconf' });
is($res->{isError}, JSON::PP::true, 'unknown conference: isError');
like(text($res), qr/scottish-summit-2026/, 'unknown conference: the hint lists valid slugs');
ok(!exists $c->{json}{error}, 'unknown conference: not a JSON-RPC error');

my @bad = (
    [{ limit => 0 }, qr/limit.*1 to 50/, 'limit 0'],
    [{ limit => 51 }, qr/limit.*1 to 50/, 'limit 51'],
    [{ limit => 2.5 }, qr/limit/, 'limit 2.5'],
    [{ level => 'Expert' }, qr/Introductory|Intermediate|Advanced/, 'unknown level'],
    [{ query => ['a'] }, qr/"query" must be a string/, 'query array'],
    [{ include_past => 'maybe' }, qr/boolean/, 'include_past "maybe"'],
    [{ colour => 'red' }, qr/Unknown argument "colour".*Accepted arguments/, 'unknown argument'],
    [{ query => 'x' x 501 }, qr/too long/, 'query of 501 bytes'],
    ['copilot', qr/JSON object/, 'arguments as a string'],
);
for my $b (@bad) {
    ($c, $res) = call('search_sessions', $b->[0]);
    ok($res->{isError} && text($res) =~ $b->[1], "$b->[2]: isError with a hint")
        or diag(text($res));
}


# ---- get_session

my $id = $first->{id};
($c, $res) = call('get_session', { session_id => $id });
is($res->{isError}, JSON::PP::false, 'get_session: ok');
$rest = $t->get_json("/api/sessions/$id");
is_deeply($res->{structuredContent}, $rest->{json}, 'get_session: the REST document');
like(text($res), qr/\Q$first->{title}\E/, 'get_session text: title');
like(text($res), qr/Conference: Scottish Summit 2026 \(scottish-summit-2026\)/, 'get_session text: conference');

($c, $res) = call('get_session', { session_id => "$id" });
is($res->{isError}, JSON::PP::false, 'get_session: id as a string of digits');

($c, $res) = call('get_session', { session_id => 987654321 });
ok($res->{isError} && text($res) =~ /no session with id 987654321.*search_sessions/s,
   'unknown session: isError with a hint');
($c, $res) = call('get_session', {});
ok($res->{isError} && text($res) =~ /"session_id" is required/, 'missing session_id: isError');
($c, $res) = call('get_session', { session_id => -4 });
ok($res->{isError}, 'negative session_id: isError');
($c, $res) = call('get_session', { session_id => 'abc' });
ok($res->{isError}, 'session_id "abc": isError');


# ---- list_conferences

($c, $res) = call('list_conferences', { include_past => JSON::PP::true });
is($res->{isError}, JSON::PP::false, 'list_conferences: ok');
$rest = $t->get_json('/api/conferences?include_past=true');
is_deeply($res->{structuredContent}, $rest->{json}, 'list_conferences: the REST document');
like(text($res), qr/^2 conferences:\n- .*\(slug: /, 'list_conferences text');
($c, $res) = call('list_conferences', { include_past => 1 });
ok($res->{isError}, 'include_past 1: isError (a boolean is expected)');


# ---- unknown tools, bad params

$r = $m->request('tools/call', { name => 'book_a_hotel', arguments => {} }, session => $sid);
is($r->{json}{error}{code}, -32602, 'unknown tool: -32602');
is($r->{status}, 200, 'unknown tool: HTTP 200');
my $names = $m->request('tools/list', {}, session => $sid);
is($r->{json}{error}{message},
   'Unknown tool: tools/list names the tools ('
   . join(', ', map { $_->{name} } @{ $names->{json}{result}{tools} || [] })
   . ')', 'unknown tool: the message names the tools of tools/list');
$r = $m->request('tools/call', { arguments => {} }, session => $sid);
is($r->{json}{error}{code}, -32602, 'tools/call without name: -32602');
$r = $m->request('tools/call', { name => 42 }, session => $sid);
is($r->{json}{error}{code}, -32602, 'tools/call with a numeric name: -32602');
$r = $m->request('resources/nope', {}, session => $sid);
is($r->{json}{error}{code}, -32601, 'unknown method: -32601');


# ---- batches: 2025-03-26 only

my ($s0326) = $m->initialize('2025-03-26');
$r = $m->post([
    { jsonrpc => '2.0', id => 'a', method => 'ping' },
    { jsonrpc => '2.0', method => 'notifications/initialized' },
    { jsonrpc => '2.0', id => 'b', method => 'tools/call',
      params => { name => 'list_conferences', arguments => { include_past => JSON::PP::true } } },
    { jsonrpc => '2.0', id => 'c', method => 'nope' },
    { jsonrpc => '1.0', id => 'd', method => 'ping' },
    { jsonrpc => '2.0', id => 'e', method => 'initialize', params => {} },
], session => $s0326);
is($r->{status}, 200, 'batch on 2025-03-26: 200');
my %by = map { ($_->{id} // 'null') => $_ } @{ ref $r->{json} eq 'ARRAY' ? $r->{json} : [] };
is_deeply([sort keys %by], [qw(a b c d e)], 'batch: one answer per request, none for the notification');
is_deeply($by{a}{result}, {}, 'batch: ping');
is($by{b}{result}{structuredContent}{count}, 2, 'batch: tool call');
is_deeply([$by{c}{error}{code}, $by{d}{error}{code}, $by{e}{error}{code}],
          [-32601, -32600, -32600], 'batch: unknown method, bad jsonrpc, initialize');

$r = $m->post([{ jsonrpc => '2.0', method => 'notifications/initialized' }], session => $s0326);
is($r->{status}, 202, 'batch of notifications: 202');
$r = $m->post([], session => $s0326);
is($r->{status}, 400, 'empty batch: 400');
$r = $m->post([{ jsonrpc => '2.0', id => 1, method => 'ping' }], session => $sid);
is($r->{status}, 400, 'batch on 2025-11-25: 400');
is($r->{json}{error}{code}, -32600, 'batch on 2025-11-25: -32600');
