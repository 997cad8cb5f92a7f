#!/usr/bin/perl

# The organizer dashboard (/organizer) and the MCP Apps session cards in a
# real browser: Debian's chromium driven by playwright-core, axe-core for
# accessibility (pinned in t/tools/web, as t/web_pages.t), nginx serving
# html/ through conf/confhaven-web.conf next to the REST API and MCP.
#
# Data: a schedule whose title, abstract, speaker and room carry
# <script>, onerror= and onload= payloads; an organizer created through
# the admin API owning it, with a key issued here; searches (some with
# payloads, some finding nothing) and session views over REST, and MCP
# tool calls (an assistant's User-Agent; evaluation records to review).
#
# Billing runs against the fake Stripe (t/tools/fake-stripe, its hosted
# pages: Checkout and portal URLs on the fake itself): a free organizer
# clicks Upgrade, pays on the fake's checkout page (which sends the signed
# webhooks), comes back to the dashboard on Pro, and opens the portal.
#
# Each check of t/tools/web/organizer.mjs is one TAP test (a "skip" one is
# a skipped test with its reason: the organizer import and the billing
# endpoints are not on every build); screenshots at phone (390x844) and
# desktop (1280x800) width are kept in $TEST_CONFHAVEN_ARTIFACTS/web/
# (ci/test: .run/test/artifacts/web/).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Cwd ();
use File::Path ();
use JSON::PP;
use Test::More;
use Time::HiRes ();

use ConfHaven::FakeStripe;
use ConfHaven::Node;
use ConfHaven::Test;

binmode($_, ':encoding(UTF-8)')
    for Test::More->builder->output, Test::More->builder->failure_output,
        Test::More->builder->todo_output;

my $ROOT = Cwd::abs_path("$FindBin::Bin/..");
my $CHROMIUM = $ENV{CHROMIUM} // '/usr/bin/chromium';
my $ART = ($ENV{TEST_CONFHAVEN_ARTIFACTS} // "$ROOT/.run/test/artifacts") . '/web';

my $node = ConfHaven::Node->new();
plan(skip_all => $node->why) unless $node->available;
my $web = ConfHaven::Node->new(dir => 'web', needed => [
    'node_modules/playwright-core/package.json',
    'node_modules/axe-core/axe.min.js',
]);

my $t = ConfHaven::Test->new()->needs_module()->needs_pg();

for my $n ($node, $web) {
    my $err = $n->install;
    next unless defined $err;
    fail('install the pinned Node tools (npm ci --prefix ' . $n->dir . ')');
    diag($err);
    done_testing();
    exit;
}
if (!-x $CHROMIUM) {
    fail("chromium at $CHROMIUM (Debian's chromium package: ci/deps)");
    done_testing();
    exit;
}

# the fake Stripe on %%PORT_9%%, its Checkout and portal pages on itself;
# Checkout and the portal send the organizer back to the dashboard
my $stripe_hosted = 'http://127.0.0.1:' . $t->port(9);
my $s = ConfHaven::FakeStripe->start($t, 9, hosted_url => $stripe_hosted);
my $dash_url = 'http://127.0.0.1:' . $t->port(1) . '/organizer';
my $stripe = $s->conf(
    success_url => "\"$dash_url?checkout=done&session_id={CHECKOUT_SESSION_ID}\"",
    cancel_url => "$dash_url?checkout=cancelled",
    return_url => $dash_url);

(my $conf = <<'EOF') =~ s/\@ROOT\@/$ROOT/g;
thread_pool stripe threads=2;

http {

confhaven_pg_server "%%DSN%%";
confhaven_events_flush_interval 200ms;
default_type application/json;
charset_types application/json;
@STRIPE@

server {
    listen 127.0.0.1:%%PORT_1%%;

    error_page 400 404 405 413 414 429 494 500 502 503 504 /.confhaven-error;

    root @ROOT@/html;
    include @ROOT@/conf/confhaven-web.conf;

    location / {
        confhaven_rest on;
    }

    location = /mcp {
        confhaven_mcp on;
    }

    location /api/admin/ {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
        client_max_body_size 32m;
        client_body_buffer_size 32m;
    }

    location /api/organizer/ {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
        client_max_body_size 32m;
        client_body_buffer_size 32m;
    }

    location = /.confhaven-error {
        internal;
        confhaven_json_errors on;
    }
}
}
EOF
$conf =~ s/\@STRIPE\@/$stripe/;
$t->write_conf($conf);
$t->run();

my $BASE = 'http://127.0.0.1:' . $t->port(1);
my $json = JSON::PP->new->utf8->canonical;

# ---- the hostile schedule (Sessionize "All" JSON)
my $img = '<img src=x onerror="window.__xss=1;alert(1)">';
sub hostile {
    my ($tag) = @_;
    return {
        sessions => [
            { id => 'x1', title => "$img Pwned title $tag",
              description => "Before <script>window.__xss=2;alert(2)</script> "
                             . "and <img src=/evil onerror=alert(3)> after.\n\n"
                             . '<svg onload="window.__xss=4"></svg> second '
                             . 'paragraph.',
              startsAt => '2030-05-10T10:00:00', endsAt => '2030-05-10T11:00:00',
              isServiceSession => JSON::PP::false, isPlenumSession => JSON::PP::false,
              speakers => ['s1'], categoryItems => [], questionAnswers => [],
              roomId => 1 },
            { id => 'x2', title => "Second talk pwned $tag",
              description => 'Plain.',
              startsAt => '2030-05-10T13:00:00', endsAt => '2030-05-10T14:00:00',
              isServiceSession => JSON::PP::false, isPlenumSession => JSON::PP::false,
              speakers => ['s2'], categoryItems => [], questionAnswers => [],
              roomId => 2 },
        ],
        speakers => [
            { id => 's1', firstName => '<b onmouseover=alert(5)>Mallory</b>',
              lastName => $img, fullName => "<b onmouseover=alert(5)>Mallory</b> $img",
              bio => "Bio with $img inside.", sessions => ['x1'],
              categoryItems => [], questionAnswers => [] },
            { id => 's2', firstName => 'Alice', lastName => 'Example',
              fullName => 'Alice Example', bio => undef, sessions => ['x2'],
              categoryItems => [], questionAnswers => [] },
        ],
        rooms => [ { id => 1, name => '<iframe src=/evil></iframe> Room', sort => 0 },
                   { id => 2, name => 'Hall 2', sort => 1 } ],
        categories => [], questions => [],
    };
}
my $file = $t->write_file('hostile.json', $json->encode(hostile('one')));
my $r = $t->import_file('xss-conf-2030', $file, name => 'XSS <Conf> 2030',
                        timezone => 'Asia/Tokyo');
is($r->{status}, 200, 'the hostile schedule imports')
    or BAIL_OUT("hostile import: $r->{status} $r->{body}");
# the same schedule again, for the upload (titles "... two")
my $upload = $t->write_file('upload.json', $json->encode(hostile('two')));

# ---- a pro organizer (its 90-day window, CSV and review need pro: see
# README "Tiers") owning it, and a key, through the admin API
my @admin = ('Authorization' => 'Bearer ' . $t->admin_key);
$r = $t->http('POST', '/api/admin/organizers?name=Dash%20%3Cb%3EOrg%3C%2Fb%3E&tier=pro',
              headers => \@admin);
is($r->{status}, 201, 'an organizer is created') or BAIL_OUT($r->{body});
my $org = decode_json($r->{body})->{id};
$r = $t->http('POST', "/api/admin/organizers/$org/conferences/xss-conf-2030",
              headers => \@admin);
is($r->{status}, 200, 'it owns the hostile conference');
$r = $t->http('POST', "/api/admin/organizers/$org/keys?label=browser",
              headers => \@admin);
is($r->{status}, 201, 'a key is issued') or BAIL_OUT($r->{body});
my $key = decode_json($r->{body})->{key};

# ---- a free organizer, to upgrade through Checkout in the browser
$r = $t->http('POST', '/api/admin/organizers?name=Free%20Org', headers => \@admin);
is($r->{status}, 201, 'a free organizer is created') or BAIL_OUT($r->{body});
my $free_org = decode_json($r->{body})->{id};
$r = $t->http('POST', "/api/admin/organizers/$free_org/keys?label=browser",
              headers => \@admin);
is($r->{status}, 201, 'and a key for it') or BAIL_OUT($r->{body});
my $free_key = decode_json($r->{body})->{key};

# ---- traffic for the analytics and the review queue
my $found = $t->get_json('/api/sessions?conference=xss-conf-2030&limit=10');
my %by = map { $_->{external_id} => $_ } @{ $found->{json}{sessions} // [] };
is(scalar keys %by, 2, 'its sessions are found');
my $qpay = '<script>window.__xss=7</script><img src=x onerror=alert(8)>zzqx';
sub esc { my $s = shift; $s =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge; $s }
for my $q ($qpay, $qpay, 'nothingmatches', 'pwned') {
    $t->http('GET', '/api/sessions?conference=xss-conf-2030&q=' . esc($q),
             headers => [ 'User-Agent' => 'Claude-User/1.0' ]);
}
$t->http('GET', "/api/sessions/$by{x1}{id}") for 1 .. 3;
$t->http('GET', "/api/sessions/$by{x2}{id}");

my $call = sub {
    my ($name, $args) = @_;
    return $t->post_json('/mcp', { jsonrpc => '2.0', id => 1,
        method => 'tools/call', params => { name => $name, arguments => $args,
            _meta => {
                'io.modelcontextprotocol/protocolVersion' => '2026-07-28',
                'io.modelcontextprotocol/clientCapabilities' => {},
                'io.modelcontextprotocol/clientInfo' => { name => 'claude-ai',
                                                          version => '1' } } } },
        headers => [ 'MCP-Protocol-Version' => '2026-07-28',
                     'Mcp-Method' => 'tools/call', 'Mcp-Name' => $name,
                     ($args->{conference} ? ('Mcp-Param-Conference' => $args->{conference}) : ()),
                     'Accept' => 'application/json, text/event-stream' ]);
};
my $search = $call->('search_sessions', { query => 'pwned',
                                          conference => 'xss-conf-2030' });
is($search->{status}, 200, 'an assistant searches over MCP');
my $sess = $call->('get_session', { session_id => $by{x1}{id} });
is($sess->{status}, 200, 'and reads a session');

# the analytics see them (the events writer flushes every 200 ms)
my @auth = ('X-API-Key' => $key);
my $an;
for (1 .. 50) {
    $an = $t->get_json('/api/organizer/analytics?conference=xss-conf-2030&days=7',
                       headers => \@auth)->{json};
    last if ($an->{totals}{searches} // 0) >= 5
            && @{ $an->{zero_result_queries} // [] }
            && @{ $an->{most_viewed} // [] };
    Time::HiRes::sleep(0.2);
}
cmp_ok($an->{totals}{searches} // 0, '>=', 5, 'the searches are counted');
my $ev;
for (1 .. 50) {
    $ev = $t->get_json('/api/organizer/evaluations?conference=xss-conf-2030',
                       headers => \@auth)->{json};
    last if @{ $ev->{evaluations} // [] } >= 2;
    Time::HiRes::sleep(0.2);
}
cmp_ok(scalar @{ $ev->{evaluations} // [] }, '>=', 1,
       'the tool calls are in the review queue');

# ---- MCP Apps: what a host that announces the extension gets
my $UI = { extensions => { 'io.modelcontextprotocol/ui' => {
    mimeTypes => [ 'text/html;profile=mcp-app' ] } } };
$r = $t->post_json('/mcp', { jsonrpc => '2.0', id => 2, method => 'resources/read',
    params => { uri => 'ui://confhaven/session-cards', _meta => {
        'io.modelcontextprotocol/protocolVersion' => '2026-07-28',
        'io.modelcontextprotocol/clientCapabilities' => $UI } } },
    host => '127.0.0.1:' . $t->port(1),
    headers => [ 'MCP-Protocol-Version' => '2026-07-28',
                 'Mcp-Method' => 'resources/read',
                 'Mcp-Name' => 'ui://confhaven/session-cards',
                 'Accept' => 'application/json, text/event-stream' ]);
my $card = $r->{json}{result}{contents}[0] // {};
is($card->{mimeType}, 'text/html;profile=mcp-app', 'the cards resource is read');

my $fixture = {
    key => $key,
    conference => 'xss-conf-2030',
    organizer => 'Dash <b>Org</b>',
    query_payload => $qpay,
    xss_session => { id => $by{x1}{id}, title => $by{x1}{title} },
    upload => $upload,
    free_key => $free_key,
    stripe => $stripe_hosted,
    app => { html => $card->{text}, csp => $card->{_meta}{ui}{csp},
             search => $search->{json}{result}, session => $sess->{json}{result} },
};

File::Path::make_path($ART);
my ($rc, $out) = $node->run(
    [ $node->node, $web->path('organizer.mjs'),
      '--base', $BASE, '--artifacts', $ART,
      '--fixture', $json->encode($fixture) ],
    timeout => 300, env => { CHROMIUM => $CHROMIUM });

my ($res_json) = $out =~ /(\{"checks".*\})\s*\z/s;
my $res = defined $res_json ? eval { JSON::PP->new->utf8->decode($res_json) } : undef;
if (ref $res ne 'HASH') {
    fail('organizer.mjs reported its checks');
    diag("exit $rc:\n$out");
    $t->done_testing();
    exit;
}
(my $noise = $out) =~ s/\Q$res_json\E\s*\z//;
diag("organizer.mjs said:\n$noise") if $noise =~ /\S/;

for my $c (@{ $res->{checks} }) {
    if (defined $c->{skip}) {
        SKIP: { skip("$c->{name}: $c->{skip}", 1) }
        next;
    }
    ok($c->{ok}, $c->{name}) or diag($c->{detail} // '');
}
cmp_ok(scalar @{ $res->{checks} }, '>=', 70, 'every step of organizer.mjs ran');
is($rc, 0, 'organizer.mjs exited 0');

# the upgrade, as the server and the fake Stripe saw it
my $fr = $t->get_json('/api/organizer', headers => [ 'X-API-Key' => $free_key ]);
is($fr->{json}{billing}{tier}, 'pro', 'after the browser\'s Checkout the free organizer is pro');
my @dl = grep { $_->{type} eq 'checkout.session.completed' } @{ $s->deliveries };
ok(@dl && !grep({ $_->{status} != 200 } @dl),
   'the fake delivered a signed checkout.session.completed, answered 200');

my @shots = glob("$ART/organizer-*.png");
cmp_ok(scalar @shots, '>=', 4, "organizer screenshots kept in $ART");
@shots = glob("$ART/mcp-app-*.png");
cmp_ok(scalar @shots, '>=', 2, "MCP Apps card screenshots kept in $ART");

# the page itself, without a browser: the same headers as the others
my $h = $t->http('GET', '/organizer');
is($h->{status}, 200, '/organizer: 200');
like($h->{headers}{'content-security-policy'} // '', qr/frame-ancestors 'none'/,
     '/organizer: with a Content-Security-Policy');
for my $a ('/assets/organizer.js', '/assets/charts.js', '/assets/mcp-app.js',
           '/assets/mcp-app.css')
{
    is($t->http('GET', $a)->{status}, 200, "$a is served");
}
is($t->http('GET', '/organizer.html')->{status}, 404,
   'organizer.html is reached by its page name only');

$t->done_testing();
