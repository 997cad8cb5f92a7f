#!/usr/bin/perl

# MCP prompts, completions and logging (two workers): prompts/list,
# prompts/get plan_my_day (the day's schedule with the interests, by slug
# or name, with or without a date, invalid arguments as -32602),
# completion/complete of conference slugs, tracks, levels and days (and no
# values for what we do not know), logging/setLevel, and the same on the
# 2026-07-28 wire where logging is gone.

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;
use ConfHaven::MCP;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->plan(45);

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
my ($sid) = $m->initialize('2025-11-25');

sub req {
    my ($method, $params) = @_;
    my $r = $m->request($method, $params, session => $sid, version => '2025-11-25');
    return $r->{json} // {};
}

sub plan_day {
    my (%args) = @_;
    return req('prompts/get', { name => 'plan_my_day', arguments => \%args });
}

sub complete {
    my ($ref, $name, $value, $ctx) = @_;
    my $j = req('completion/complete', { ref => $ref, argument => { name => $name, value => $value },
                                         ($ctx ? (context => { arguments => $ctx }) : ()) });
    return $j->{result}{completion} // { error => $j->{error} };
}


# ---- prompts/list

my $j = req('prompts/list');
my @p = @{ $j->{result}{prompts} // [] };
is_deeply([map { $_->{name} } @p], ['plan_my_day'], 'prompts/list: plan_my_day');
is($p[0]{title}, 'Plan my day at a conference', 'prompt title');
ok(length($p[0]{description} // '') > 60, 'prompt description');
is_deeply([map { [$_->{name}, $_->{required}] } @{ $p[0]{arguments} }],
          [['conference', JSON::PP::true], ['date', JSON::PP::false],
           ['interests', JSON::PP::false]], 'prompt arguments');


# ---- prompts/get

my $days = $t->get_json('/api/conferences/scottish-summit-2026')->{json}{days} // [];
ok(@$days, 'the conference has days');

$j = plan_day(conference => 'scottish-summit-2026', date => $days->[0],
          interests => 'Copilot and AI agents');
my $msg = $j->{result}{messages}[0] // {};
is($msg->{role}, 'user', 'plan_my_day: a user message');
is($msg->{content}{type}, 'text', 'plan_my_day: text content');
my $text = $msg->{content}{text} // '';
like($text, qr/Scottish Summit 2026.*on \Q$days->[0]\E/s, 'names the conference and the day');
like($text, qr/My interests: Copilot and AI agents/, 'carries the interests');
like($text, qr/Schedule of \Q$days->[0]\E \(local times, Europe\/London\)/, 'schedule header');
my $lines = () = $text =~ /^\d\d:\d\d\S* \[\d+\] /mg;
ok($lines >= 5, "the day's sessions ($lines lines)");
like($text, qr/get_session/, 'points at the tools');
like($j->{result}{description}, qr/Scottish Summit 2026/, 'description');

$j = plan_day(conference => 'Scottish Summit 2026');
like($j->{result}{messages}[0]{content}{text} // '', qr/plan my day on \d{4}-\d\d-\d\d/,
     'by name, without a date: a conference day is picked');

$j = plan_day(conference => 'pycon-au-2024', date => '2024-01-01');
like($j->{result}{messages}[0]{content}{text} // '', qr/no sessions on that day/,
     'a day without sessions says so');
like($j->{result}{messages}[0]{content}{text} // '', qr/2024-11-22, 2024-11-23, 2024-11-24/,
     'and lists the conference days');

$j = plan_day(conference => 'nope-2030');
is($j->{error}{code}, -32602, 'unknown conference: -32602');
like($j->{error}{message}, qr/scottish-summit-2026/, 'unknown conference: the valid slugs');
$j = plan_day(date => '2026-01-01');
is($j->{error}{code}, -32602, 'no conference: -32602');
$j = plan_day(conference => 'pycon-au-2024', date => 'tomorrow');
is($j->{error}{code}, -32602, 'malformed date: -32602');
$j = plan_day(conference => 'pycon-au-2024', date => '2024-02-30');
is($j->{error}{code}, -32602, 'impossible date: -32602');
$j = plan_day(conference => 'pycon-au-2024', mood => 'happy');
is($j->{error}{code}, -32602, 'unknown argument: -32602');
$j = plan_day(conference => 42);
is($j->{error}{code}, -32602, 'non-string argument: -32602');
$j = req('prompts/get', { name => 'nope' });
is($j->{error}{code}, -32602, 'unknown prompt: -32602');


# ---- completion/complete

my $pr = { type => 'ref/prompt', name => 'plan_my_day' };
is_deeply(complete($pr, 'conference', 'scot')->{values}, ['scottish-summit-2026'],
          'conference slug by prefix');
is_deeply(complete($pr, 'conference', 'Summit')->{values}, ['scottish-summit-2026'],
          'conference slug by a word of the name');
my $all = complete($pr, 'conference', '');
is_deeply([sort @{ $all->{values} }], ['pycon-au-2024', 'scottish-summit-2026'],
          'empty value: every conference');
is_deeply([$all->{total}, $all->{hasMore}], [2, JSON::PP::false], 'total and hasMore');
my $tr = complete($pr, 'track', 'dev', { conference => 'pycon-au-2024' })->{values};
ok(grep({ $_ eq 'DevOops' } @$tr) && !grep({ !/^DevOops/ } @$tr),
   'tracks of the conference in context');
is_deeply(complete($pr, 'level', 'int')->{values}, ['Introductory', 'Intermediate'],
          'levels');
is_deeply(complete($pr, 'date', '2024-11', { conference => 'pycon-au-2024' })->{values},
          ['2024-11-22', '2024-11-23', '2024-11-24'], 'days of the conference in context');
is_deeply(complete($pr, 'date', '2024'), { values => [], total => 0, hasMore => JSON::PP::false },
          'days without a conference: none');
is_deeply(complete({ type => 'ref/prompt', name => 'test_prompt_with_arguments' }, 'arg1', 'test'),
          { values => [], total => 0, hasMore => JSON::PP::false }, 'an unknown prompt: no values');
is_deeply(complete({ type => 'ref/resource', uri => 'confhaven://conferences/{slug}' },
                   'slug', 'py')->{values}, ['pycon-au-2024'], 'the template slug');
is_deeply(complete({ type => 'ref/resource', uri => 'confhaven://sessions/{id}' }, 'id', '1')->{values},
          [], 'session ids: none');
is(complete($pr, 'interests', 'x')->{total}, 0, 'free text: none');
$j = req('completion/complete', { ref => $pr });
is($j->{error}{code}, -32602, 'completion without argument: -32602');


# ---- logging/setLevel

$j = req('logging/setLevel', { level => 'warning' });
is_deeply($j->{result}, {}, 'logging/setLevel: {}');
$j = req('logging/setLevel', { level => 'loud' });
is($j->{error}{code}, -32602, 'unknown level: -32602');


# ---- 2026-07-28

$r = $m->modern('prompts/list', {});
ok(($r->{json}{result}{ttlMs} // -1) > 0 && $r->{json}{result}{cacheScope},
   '2026 prompts/list: cache hints');
$r = $m->modern('prompts/get', { name => 'plan_my_day',
                                 arguments => { conference => 'pycon-au-2024' } });
is($r->{json}{result}{resultType}, 'complete', '2026 prompts/get');
$r = $m->modern('completion/complete', { ref => $pr, argument => { name => 'level', value => 'a' } });
is_deeply($r->{json}{result}{completion}{values}, ['Advanced'], '2026 completion');
$r = $m->modern('logging/setLevel', { level => 'info' });
is_deeply([$r->{status}, $r->{json}{error}{code}], [404, -32601], '2026 logging/setLevel: 404 -32601');
