#!/usr/bin/perl

# Evaluation records (issue 10, the original's EvaluationData): every MCP
# tool call is recorded with the user's query, the tool, its arguments
# (never the API key), a bounded result, the trace id, a status and
# labels; e-mail addresses are never stored in clear; an organizer lists
# and reviews the records of its own conferences only; an automated judge
# sets a score through an admin endpoint; confhaven_evaluation_retention
# removes old records and nothing else.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

use ConfHaven::Test;
use ConfHaven::MCP;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->worker_processes(1)
    ->plan(23);

# records from before nginx starts: two too old, one just young enough
$t->psql(<<'SQL');
INSERT INTO confhaven.evaluation_data (created_at, tool_name, user_query)
VALUES (now() - interval '40 days', 'search_sessions', 'old one'),
       (now() - interval '31 days', 'search_sessions', 'old two'),
       (now() - interval '29 days', 'search_sessions', 'recent');
SQL

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";
confhaven_events_flush_interval 200ms;
confhaven_evaluation_retention 30d;

server {
    listen 127.0.0.1:%%PORT_1%%;

    location = /mcp {
        confhaven_mcp on;
    }

    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF
$t->run();

sub wait_for {
    my ($sql, $want) = @_;
    my $got;
    my $deadline = time + 15;
    while (time < $deadline) {
        $got = $t->psql($sql);
        last if $got eq $want;
        sleep 0.2;
    }
    return $got;
}

is(wait_for("SELECT string_agg(user_query, ',' ORDER BY id) FROM confhaven.evaluation_data",
            'recent'), 'recent',
   'retention (30d): the two older records are removed, the younger one kept');

my $SC = 'scottish-summit-2026';
my $QA = 'qa-or-the-highway-2026';
$t->import_file($SC, 'sessionize-all_scottish-summit-2026.json',
                name => 'Scottish Summit 2026', timezone => 'Europe/London');
$t->import_file($QA, 'sessionize-all_qa-or-the-highway-2026.json',
                name => 'QA or the Highway 2026', timezone => 'America/New_York');

my @admin = ('Authorization' => 'Bearer ' . $t->admin_key);
sub organizer {
    my ($name, $slug) = @_;
    my $r = $t->http('POST', "/api/admin/organizers?name=$name&tier=pro", headers => [@admin]);
    my $id = $r->{json}{id};
    $t->http('POST', "/api/admin/organizers/$id/conferences/$slug", headers => [@admin]);
    return $t->http('POST', "/api/admin/organizers/$id/keys", headers => [@admin])->{json}{key};
}
my $ka = organizer('A', $SC);
my $kb = organizer('B', $QA);

my $m = ConfHaven::MCP->new($t, path => '/mcp');
my ($sid) = $m->initialize('2025-11-25');
sub call {
    my ($name, $args, @h) = @_;
    return $m->request('tools/call', { name => $name, arguments => $args },
                       session => $sid, version => '2025-11-25', headers => [@h]);
}

call('search_sessions', { query => 'copilot for bob.smith@example.com',
                          conference => $SC, include_past => JSON::PP::true });
call('search_sessions', { query => 'testing', conference => $QA,
                          include_past => JSON::PP::true });
call('get_organizer_analytics', { conference_id => $SC, api_key => $ka });
call('search_sessions', { limit => 999, conference => $SC });
# refused keyed calls naming A's conference: B's key, and none
call('get_organizer_analytics', { conference_id => $SC, api_key => $kb });
call('get_organizer_analytics', { conference_id => $SC });

is(wait_for('SELECT count(*) FROM confhaven.evaluation_data', 7), 7,
   'six tool calls: six records (and the recent one)');
is($t->psql("SELECT count(*) FROM confhaven.evaluation_data "
            . "WHERE tool_name = 'get_organizer_analytics' AND is_error "
            . "AND conference_id IS NOT NULL"), 0,
   'the refused keyed calls are in no conference\'s queue');

my $rows = $t->psql("SELECT concat_ws(' ', user_query, tool_parameters::text, "
                    . "response_json::text) FROM confhaven.evaluation_data");
unlike($rows, qr/bob\.smith\@example\.com/, 'no e-mail address in clear');
like($rows, qr/copilot for \[email\]/, '... it reads [email]');
unlike($rows, qr/\Q${\ substr($ka, 17)}\E/, 'the api_key argument is not recorded');

my $r = $t->http('GET', "/api/organizer/evaluations?conference=$SC",
                 headers => [ 'X-API-Key' => $ka ]);
is($r->{status}, 200, 'A lists the records of its conference');
my @ev = @{ $r->{json}{evaluations} // [] };
is(scalar @ev, 3, '... its three (not B\'s)');
my ($search) = grep { ($_->{user_query} // '') =~ /copilot/ } @ev;
is($search->{tool_name}, 'search_sessions', '... tool name');
is($search->{status}, 'pending', '... pending');
is($search->{tool_parameters}{conference}, $SC, '... the arguments');
ok($search->{trace_id}, '... a trace id');
ok($search->{response}{summary} && $search->{response}{bytes} > 0, '... a bounded result');
my ($bad) = grep { $_->{is_error} } @ev;
ok($bad, '... a refused call is marked as an error');

$r = $t->http('POST', "/api/organizer/evaluations/$search->{id}?status=approved&label=4",
              headers => [ 'X-API-Key' => $ka ]);
is($r->{status}, 200, 'A approves and labels a record');
is($r->{json}{label}, 4, '... label 4');
$r = $t->http('POST', "/api/organizer/evaluations/$search->{id}?label=6",
              headers => [ 'X-API-Key' => $ka ]);
is($r->{status}, 400, 'a label of 6: 400');
$r = $t->http('POST', "/api/organizer/evaluations/$search->{id}?status=approved",
              headers => [ 'X-API-Key' => $kb ]);
is($r->{status}, 404, "B reviewing A's record: 404");
$r = $t->http('GET', "/api/organizer/evaluations?conference=$SC",
              headers => [ 'X-API-Key' => $kb ]);
is($r->{status}, 404, "B listing A's conference: 404");

$r = $t->http('GET', "/api/organizer/evaluations?conference=$SC&status=pending",
              headers => [ 'X-API-Key' => $ka ]);
is(scalar @{ $r->{json}{evaluations} // [] }, 2, 'status=pending: the two others');

$r = $t->http('POST', "/api/admin/evaluations/$search->{id}/judge?score=0.85&note=relevant",
              headers => [@admin]);
is($r->{status}, 200, 'the judge endpoint (admin key)');
$r = $t->http('GET', "/api/organizer/evaluations?conference=$SC&status=approved",
              headers => [ 'X-API-Key' => $ka ]);
is($r->{json}{evaluations}[0]{judge_score}, 0.85, '... the score is on the record');
$r = $t->http('POST', "/api/admin/evaluations/$search->{id}/judge?score=2",
              headers => [@admin]);
is($r->{status}, 400, 'a score out of 0..1: 400');
