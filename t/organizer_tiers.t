#!/usr/bin/perl

# Tiers that mean something (issue 11): every limit of confhaven.tiers on
# every organizer operation, on REST and on the MCP tool.  A free organizer
# gets a 30-day analytics window, no CSV, evaluation records it may list
# but not review, 2 active keys and 1 conference; a request beyond that is
# 403 tier_limit naming the tier that allows it ("tier", "required_tier")
# or, over MCP, a tool error with the same message.  GET /api/organizer
# shows the limits and the usage.  An operator's tier change lifts (and
# brings back) the limits at once; the tier in force is _organizer_tier(),
# so a cancelled subscription counts as free whatever the column says.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;
use ConfHaven::MCP;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->worker_processes(1);
$t->plan(76);

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";

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

my $SC = 'scottish-summit-2026';
my $QA = 'qa-or-the-highway-2026';

is($t->import_file($SC, 'sessionize-all_scottish-summit-2026.json',
                   name => 'Scottish Summit 2026', timezone => 'Europe/London')->{status},
   200, 'import scottish-summit-2026');
is($t->import_file($QA, 'sessionize-all_qa-or-the-highway-2026.json',
                   name => 'QA or the Highway 2026', timezone => 'America/New_York')->{status},
   200, 'import qa-or-the-highway-2026');

my @admin = ('Authorization' => 'Bearer ' . $t->admin_key);

sub req {
    my ($method, $path, @h) = @_;
    return $t->http($method, $path, headers => [@h]);
}

my $r = req('POST', '/api/admin/organizers?name=Free%20Org', @admin);
is($r->{json}{tier}, 'free', 'a new organizer is on the free tier');
my $id = $r->{json}{id};
req('POST', "/api/admin/organizers/$id/conferences/$SC", @admin);
$r = req('POST', "/api/admin/organizers/$id/keys?label=one", @admin);
my $k1 = $r->{json}{key};
my @k1 = ('X-API-Key' => $k1);

# a tier refusal: status, code, tiers and the message naming the tier
sub refused {
    my ($r, $need, $what, $re) = @_;
    my $e = $r->{json}{error} // {};
    ok($r->{status} == 403 && ($e->{code} // '') eq 'tier_limit'
       && ($e->{tier} // '') eq 'free' && ($e->{required_tier} // '') eq $need
       && ($e->{message} // '') =~ /needs the $need tier/ && ($e->{message} // '') =~ $re,
       "$what: 403 tier_limit, needs $need")
        or diag explain [$r->{status}, $r->{body}];
}

# ---- what GET /api/organizer says

$r = req('GET', '/api/organizer', @k1);
is($r->{json}{tier}, 'free', 'GET /api/organizer: free');
is_deeply($r->{json}{limits}, { conferences => 1, analytics_days => 30,
                                csv_export => JSON::PP::false(),
                                evaluation_review => JSON::PP::false(),
                                api_keys => 2, schedule_import => JSON::PP::true() },
          '... its limits');
is_deeply($r->{json}{usage}, { conferences => 1, api_keys => 1 }, '... and usage');

# ---- analytics window, REST and MCP

$r = req('GET', "/api/organizer/analytics?conference=$SC&days=30", @k1);
is($r->{status}, 200, 'free: 30 days of analytics');
refused(req('GET', "/api/organizer/analytics?conference=$SC&days=31", @k1),
        'pro', 'free: 31 days', qr/31 days.*free tier keeps analytics for the last 30 days/);
refused(req('GET', "/api/organizer/analytics?conference=$SC&days=400", @k1),
        'enterprise', 'free: 400 days', qr/400 days/);
$r = req('GET', "/api/organizer/analytics?conference=$SC&days=731", @k1);
is($r->{status}, 400, 'beyond every window (731 days): 400');
$r = req('GET', "/api/organizer/analytics?conference=$QA&days=31", @k1);
is($r->{status}, 404, "another's conference stays a 404, whatever the tier");

my $m = ConfHaven::MCP->new($t, path => '/mcp');
my ($sid) = $m->initialize('2025-11-25');

sub tool {
    my ($days, %o) = @_;
    my @args = (conference_id => $SC, defined $days ? (days => $days) : ());
    my $r = $o{modern}
        ? $m->modern('tools/call', { name => 'get_organizer_analytics',
                                     arguments => { @args } }, headers => [@k1])
        : $m->request('tools/call', { name => 'get_organizer_analytics',
                                      arguments => { @args } },
                      session => $sid, version => '2025-11-25', headers => [@k1]);
    return $r->{json}{result} // {};
}

my $res = tool(30);
ok(!$res->{isError}, 'MCP (session): 30 days on free');
$res = tool(31);
ok($res->{isError}, 'MCP (session): 31 days on free is a tool error');
like($res->{content}[0]{text} // '', qr/31 days needs the pro tier: the free tier/,
     '... naming the pro tier');
$res = tool(90, modern => 1);
ok($res->{isError}, 'MCP (stateless): 90 days on free is a tool error');
like($res->{content}[0]{text} // '', qr/needs the pro tier/, '... naming the pro tier');
$res = tool(500, modern => 1);
like($res->{content}[0]{text} // '', qr/needs the enterprise tier/,
     'MCP: 500 days names enterprise');

# ---- CSV export

refused(req('GET', "/api/organizer/analytics.csv?conference=$SC", @k1),
        'pro', 'free: analytics.csv', qr/CSV export/);
refused(req('GET', "/api/organizer/analytics?conference=$SC&format=csv", @k1),
        'pro', 'free: format=csv', qr/CSV export/);

# ---- evaluation records: listed, not reviewed

$r = req('GET', "/api/organizer/evaluations?conference=$SC", @k1);
is($r->{status}, 200, 'free: evaluation records can be listed');
refused(req('POST', '/api/organizer/evaluations/999999?status=approved', @k1),
        'pro', 'free: review', qr/reviewing evaluation records/);
refused(req('POST', '/api/organizer/evaluations/999999?label=4', @k1),
        'pro', 'free: label', qr/reviewing/);

# ---- API keys: 2 active on free

$r = req('POST', "/api/admin/organizers/$id/keys?label=two", @admin);
is($r->{status}, 201, 'free: a second key');
my $k2 = $r->{json}{key};
refused(req('POST', "/api/admin/organizers/$id/keys?label=three", @admin),
        'pro', 'free: a third key', qr/3 active API keys.*allows 2 active keys/);
$r = req('POST', '/api/organizer/keys/rotate', @k1);
is($r->{status}, 201, 'free with 2 keys: rotation (still 2 keys) is allowed');
$k1 = $r->{json}{key};
@k1 = ('X-API-Key' => $k1);
$r = req('GET', '/api/organizer', @k1);
is($r->{json}{usage}{api_keys}, 2, '... usage: 2 active keys');
$r = req('DELETE', "/api/admin/organizers/$id/keys/" . substr($k2, 4, 12), @admin);
is($r->{status}, 200, 'revoke one');
$r = req('POST', "/api/admin/organizers/$id/keys?label=three", @admin);
is($r->{status}, 201, '... then a new one fits again');

# ---- conferences: 1 on free

refused(req('POST', "/api/admin/organizers/$id/conferences/$QA", @admin),
        'pro', 'free: linking a second conference',
        qr/owning 2 conferences.*allows 1 conference per/);
$r = req('POST', "/api/admin/organizers/$id/conferences/$SC", @admin);
is($r->{status}, 200, 'linking the one it owns again is fine');

my $sched = $t->read_file($t->samples_dir . '/sessionize-all_global-azure-linz-2024.json');
sub org_import {
    my ($slug, @h) = @_;
    return $t->http('POST', "/api/organizer/conferences/$slug/import"
                            . '?name=Linz&timezone=Europe/Vienna',
                    body => $sched, content_type => 'application/json',
                    headers => [@h]);
}
refused(org_import('linz-new', @k1), 'pro', 'free: importing a second (new) conference',
        qr/owning 2 conferences/);
$r = req('GET', '/api/conferences/linz-new');
is($r->{status}, 404, '... nothing was created');
$r = org_import($SC, @k1);
is($r->{status}, 200, 'free: importing its own conference is fine');

# ---- the tier in force, not the column

is($t->psql("UPDATE confhaven.organizers SET subscription_tier = 'pro', "
            . "billing_status = 'canceled' WHERE id = $id RETURNING 1"), '1',
   'pro, but the subscription is cancelled');
refused(req('GET', "/api/organizer/analytics.csv?conference=$SC", @k1),
        'pro', 'a cancelled pro is free: analytics.csv', qr/CSV/);
$t->psql("UPDATE confhaven.organizers SET subscription_tier = 'free', "
         . "billing_status = 'none' WHERE id = $id");

# ---- an operator's tier change lifts the limits at once

$r = req('POST', "/api/admin/organizers/$id/tier?tier=pro");
is($r->{status}, 401, 'the tier change needs the admin key');
$r = req('POST', "/api/admin/organizers/$id/tier?tier=gold", @admin);
is($r->{status}, 400, 'an unknown tier: 400');
$r = req('POST', "/api/admin/organizers/$id/tier?tier=pro", @admin);
is($r->{status}, 200, 'upgrade to pro');
is($r->{json}{tier}, 'pro', '... the organizer says pro');
is($r->{json}{limits}{analytics_days}, 365, '... with the pro limits');

$r = req('GET', "/api/organizer/analytics?conference=$SC&days=31", @k1);
is($r->{status}, 200, 'pro: 31 days');
$r = req('GET', "/api/organizer/analytics?conference=$SC&days=365", @k1);
is($r->{status}, 200, 'pro: 365 days');
refused_pro(req('GET', "/api/organizer/analytics?conference=$SC&days=366", @k1),
            'pro: 366 days');
$res = tool(31);
ok(!$res->{isError}, 'MCP (session): 31 days on pro');
$res = tool(200, modern => 1);
ok(!$res->{isError}, 'MCP (stateless): 200 days on pro');
$r = req('GET', "/api/organizer/analytics.csv?conference=$SC", @k1);
is($r->{status}, 200, 'pro: CSV');
like($r->{body}, qr/^section,key,label,count/, '... a CSV file');
$r = req('GET', "/api/organizer/analytics?conference=$SC&format=csv", @k1);
is($r->{status}, 200, 'pro: format=csv');
$r = req('POST', '/api/organizer/evaluations/999999?status=approved', @k1);
is($r->{status}, 404, 'pro: review is allowed (an unknown record is a 404)');
$r = req('POST', "/api/admin/organizers/$id/keys?label=four", @admin);
is($r->{status}, 201, 'pro: a third active key');
$r = req('POST', "/api/admin/organizers/$id/conferences/$QA", @admin);
is($r->{status}, 200, 'pro: a second conference');
$r = org_import('linz-new', @k1);
is($r->{status}, 200, 'pro: a third, imported by the organizer');
$r = req('GET', '/api/organizer', @k1);
is_deeply($r->{json}{usage}, { conferences => 3, api_keys => 3 }, '... usage: 3 and 3');

# pro's own limits: 10 keys, 10 conferences
for my $n (4 .. 10) {
    req('POST', "/api/admin/organizers/$id/keys?label=k$n", @admin);
}
$r = req('GET', '/api/organizer', @k1);
is($r->{json}{usage}{api_keys}, 10, 'pro: 10 active keys');
$r = req('POST', "/api/admin/organizers/$id/keys?label=k11", @admin);
is($r->{status}, 403, 'pro: an 11th key: 403');
is($r->{json}{error}{tier}, 'pro', '... tier pro');
is($r->{json}{error}{required_tier}, 'enterprise', '... needs enterprise');
like($r->{json}{error}{message}, qr/11 active API keys needs the enterprise tier/,
     '... says so');
$t->psql("INSERT INTO confhaven.conferences (slug, name, timezone) "
         . "SELECT 'extra-' || g, 'Extra ' || g, 'UTC' FROM generate_series(1, 8) g");
$t->psql("INSERT INTO confhaven.conference_organizers (organizer_id, conference_id) "
         . "SELECT $id, id FROM confhaven.conferences WHERE slug LIKE 'extra-%' "
         . "AND slug <> 'extra-8'");
$r = req('POST', "/api/admin/organizers/$id/conferences/extra-8", @admin);
is($r->{status}, 403, 'pro: an 11th conference: 403');
is($r->{json}{error}{required_tier}, 'enterprise', '... needs enterprise');

# enterprise
$r = req('POST', "/api/admin/organizers/$id/tier?tier=enterprise", @admin);
is($r->{json}{limits}{conferences}, undef, 'enterprise: no conference limit');
$r = req('GET', "/api/organizer/analytics?conference=$SC&days=730", @k1);
is($r->{status}, 200, 'enterprise: 730 days');
$res = tool(700, modern => 1);
ok(!$res->{isError}, 'MCP: 700 days on enterprise');
$r = req('POST', "/api/admin/organizers/$id/conferences/extra-8", @admin);
is($r->{status}, 200, 'enterprise: an 11th conference');
$r = req('POST', "/api/admin/organizers/$id/keys?label=k11", @admin);
is($r->{status}, 201, 'enterprise: an 11th key');

# beyond every tier: enterprise's 50 keys
$t->psql("INSERT INTO confhaven.api_keys (organizer_id, prefix, key_hash) "
         . "SELECT $id, lpad(to_hex(g), 12, 'a'), sha256(g::text::bytea) "
         . "FROM generate_series(1, 39) g");
$r = req('POST', "/api/admin/organizers/$id/keys?label=k51", @admin);
is($r->{status}, 403, 'enterprise: a 51st key: 403');
is($r->{json}{error}{tier}, 'enterprise', '... tier enterprise');
ok(exists $r->{json}{error}{required_tier} && !defined $r->{json}{error}{required_tier},
   '... required_tier null: no tier allows it');
like($r->{json}{error}{message}, qr/beyond every tier/, '... says so');

# and back down: the limits return at once (what it owns stays its own)
$r = req('POST', "/api/admin/organizers/$id/tier?tier=free", @admin);
is($r->{status}, 200, 'downgrade to free');
refused(req('GET', "/api/organizer/analytics?conference=$SC&days=31", @k1),
        'pro', 'free again: 31 days', qr/31 days/);
refused(req('GET', "/api/organizer/analytics.csv?conference=$QA", @k1),
        'pro', 'free again: CSV', qr/CSV/);
$res = tool(31);
ok($res->{isError}, 'free again: MCP 31 days is a tool error');
$r = req('POST', '/api/organizer/keys/rotate', @k1);
is($r->{status}, 403, 'free again with 50 keys: rotation refused');
like($r->{json}{error}{message} // '', qr/50 active API keys needs the enterprise tier/,
     '... naming enterprise');
$r = req('GET', "/api/organizer/analytics?conference=$QA&days=30", @k1);
is($r->{status}, 200, '... its conferences stay its own');

sub refused_pro {
    my ($r, $what) = @_;
    my $e = $r->{json}{error} // {};
    ok($r->{status} == 403 && ($e->{tier} // '') eq 'pro'
       && ($e->{required_tier} // '') eq 'enterprise',
       "$what: 403, needs enterprise") or diag explain [$r->{status}, $r->{body}];
}
