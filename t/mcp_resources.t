#!/usr/bin/perl

# MCP resources (three workers): capabilities in initialize and
# server/discover, resources/list (conferences), resources/templates/list,
# resources/read of confhaven://conferences/{slug} and
# confhaven://sessions/{id} (the REST documents), not found as -32002 with
# data.uri before 2026-07-28 and -32602 on it, cache hints and resultType
# on the 2026 wire, unknown cursors, methods we do not serve.

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;
use ConfHaven::MCP;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(3)->plan(39);

$t->write_conf(<<'EOF2');
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
EOF2
$t->run();

my $r = $t->import_file('scottish-summit-2026',
                        'sessionize-all_scottish-summit-2026.json',
                        name => 'Scottish Summit 2026', timezone => 'Europe/London');
is($r->{status}, 200, 'import scottish-summit-2026');
$r = $t->import_file('pycon-au-2024', 'pretalx_pycon-au-2024.schedule.json',
                     name => 'PyCon AU 2024', timezone => 'Australia/Melbourne');
is($r->{status}, 200, 'import pycon-au-2024');

my $m = ConfHaven::MCP->new($t);
my ($sid, $init) = $m->initialize('2025-11-25');
ok($sid, 'session');

sub req {
    my ($method, $params, %o) = @_;
    my $r = $m->request($method, $params, session => $sid, version => '2025-11-25', %o);
    return ($r, $r->{json} // {});
}


# ---- capabilities: exactly what is served

my $caps = $init->{json}{result}{capabilities};
is_deeply([sort keys %$caps], [qw(completions logging prompts resources tools)],
          'initialize: tools, resources, prompts, completions, logging');
is_deeply($caps->{resources}, { subscribe => JSON::PP::false, listChanged => JSON::PP::false },
          'resources: no subscriptions, no list changes');

$r = $m->modern('server/discover', {});
is_deeply([sort keys %{$r->{json}{result}{capabilities}}],
          [qw(completions prompts resources tools)],
          'discover: no logging on 2026-07-28');


# ---- resources/list

my ($x, $j) = req('resources/list');
my @res = @{ $j->{result}{resources} // [] };
is_deeply([sort map { $_->{uri} } @res],
          ['confhaven://conferences/pycon-au-2024', 'confhaven://conferences/scottish-summit-2026'],
          'resources/list: the conferences');
my ($ss) = grep { $_->{name} eq 'scottish-summit-2026' } @res;
is($ss->{title}, 'Scottish Summit 2026', 'resource title: the conference name');
is($ss->{mimeType}, 'application/json', 'resource mimeType');
like($ss->{description}, qr/Scottish Summit 2026.*\d+ sessions/, 'resource description');
ok(!exists $j->{result}{ttlMs}, 'no cache hints before 2026');

($x, $j) = req('resources/list', { cursor => 'x' });
is($j->{error}{code}, -32602, 'resources/list with an unknown cursor: -32602');

($x, $j) = req('resources/templates/list');
is_deeply([map { $_->{uriTemplate} } @{ $j->{result}{resourceTemplates} // [] }],
          ['confhaven://conferences/{slug}', 'confhaven://sessions/{id}',
           'confhaven://sessions/{id}.ics'],
          'resources/templates/list');


# ---- resources/read

($x, $j) = req('resources/read', { uri => 'confhaven://conferences/scottish-summit-2026' });
my $c = $j->{result}{contents}[0] // {};
is($c->{uri}, 'confhaven://conferences/scottish-summit-2026', 'read conference: uri');
is($c->{mimeType}, 'application/json', 'read conference: mimeType');
my $doc = eval { JSON::PP->new->decode($c->{text}) } // {};
is($doc->{slug}, 'scottish-summit-2026', 'read conference: the document');
ok(ref $doc->{tracks} eq 'ARRAY' && ref $doc->{days} eq 'ARRAY' && @{$doc->{days}},
   'read conference: tracks and days');
my $rest = $t->get_json('/api/conferences/scottish-summit-2026');
is_deeply($doc, $rest->{json}, 'read conference: the same as the REST document');

($x, $j) = req('tools/call', { name => 'search_sessions',
                               arguments => { query => 'copilot', include_past => JSON::PP::true,
                                              limit => 1 } });
my $id = $j->{result}{structuredContent}{sessions}[0]{id};
ok($id, 'a session id from search_sessions');

($x, $j) = req("resources/read", { uri => "confhaven://sessions/$id" });
$doc = eval { JSON::PP->new->decode($j->{result}{contents}[0]{text}) } // {};
is($doc->{id}, $id, 'read session: the document');
is($doc->{conference}, 'scottish-summit-2026', 'read session: its conference');

($x, $j) = req('resources/read', { uri => 'confhaven://conferences/nope-2026' });
is($j->{error}{code}, -32002, 'unknown conference: -32002');
is($j->{error}{data}{uri}, 'confhaven://conferences/nope-2026', 'unknown conference: data.uri');
like($j->{error}{message}, qr/scottish-summit-2026/, 'unknown conference: the valid slugs');

($x, $j) = req('resources/read', { uri => 'confhaven://sessions/999999999' });
is($j->{error}{code}, -32002, 'unknown session: -32002');

($x, $j) = req('resources/read', { uri => 'test://nonexistent-resource-for-conformance-testing' });
is_deeply([$x->{status}, $j->{error}{code}, $j->{error}{data}{uri}],
          [200, -32002, 'test://nonexistent-resource-for-conformance-testing'],
          'foreign uri: -32002 with data.uri');
ok(!exists $j->{result}, 'not found: no result');

($x, $j) = req('resources/read', { uri => 'confhaven://conferences/Bad_Slug' });
is($j->{error}{code}, -32002, 'malformed slug: not found');
# a value the operation refuses is the caller's mistake, never -32603
($x, $j) = req('resources/read', { uri => 'confhaven://sessions/042' });
is($j->{error}{code}, -32002, 'session id with a leading zero: not found');
($x, $j) = req('completion/complete', {
    ref => { type => 'ref/prompt', name => 'plan_my_day' },
    argument => { name => 'date', value => '2' },
    context => { arguments => { conference => ("x" x 300) } } });
is_deeply([$x->{status}, $j->{error}{code}, ref $j->{result}{completion}{values}],
          [200, undef, 'ARRAY'], 'completion with a 300-byte conference: empty values');
($x, $j) = req('resources/read', { uri => 42 });
is($j->{error}{code}, -32602, 'uri not a string: -32602');
($x, $j) = req('resources/subscribe', { uri => 'confhaven://conferences/pycon-au-2024' });
is($j->{error}{code}, -32601, 'resources/subscribe is not served: -32601');


# ---- the 2026-07-28 wire

$r = $m->modern('resources/list', {});
is_deeply([@{$r->{json}{result}}{qw(resultType cacheScope)}], ['complete', 'private'],
          '2026 resources/list: resultType and cacheScope (private: MCP Apps)');
ok(($r->{json}{result}{ttlMs} // -1) > 0, '2026 resources/list: ttlMs');
$r = $m->modern('resources/templates/list', {});
ok(($r->{json}{result}{ttlMs} // -1) > 0, '2026 templates: ttlMs');
$r = $m->modern('resources/read', { uri => 'confhaven://conferences/pycon-au-2024' });
is_deeply([$r->{status}, $r->{json}{result}{cacheScope}, $r->{json}{result}{resultType}],
          [200, 'public', 'complete'], '2026 resources/read: cache hints');
ok(($r->{json}{result}{ttlMs} // -1) > 0, '2026 resources/read: ttlMs');
$r = $m->modern('resources/read', { uri => 'test://nonexistent-resource-for-conformance-testing' });
is_deeply([$r->{json}{error}{code}, $r->{json}{error}{data}{uri}],
          [-32602, 'test://nonexistent-resource-for-conformance-testing'],
          '2026 not found: -32602 with data.uri');
$r = $m->modern('resources/read', { uri => 'confhaven://conferences/pycon-au-2024' },
                no_headers => 1,
                headers => [ 'MCP-Protocol-Version' => '2026-07-28',
                             'Mcp-Method' => 'resources/read',
                             'Mcp-Name' => 'confhaven://conferences/other' ]);
is($r->{status}, 400, '2026 resources/read: Mcp-Name must match the uri');
