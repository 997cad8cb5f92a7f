#!/usr/bin/perl

# The web pages of html/ (landing page, attendee search, session page,
# agenda) in a real browser: Debian's chromium driven by playwright-core,
# axe-core for accessibility (both pinned in t/tools/web, run with the
# Node 22 of t/tools/mcp), nginx serving html/ through
# conf/confhaven-web.conf next to the REST API and MCP, as `make run` does.
#
# Data: the community-developer-connect-2027 sample (future sessions:
# paging, facets) and a schedule made here whose title, abstract, speaker
# and room carry <script>, onerror= and onload= payloads, with two
# overlapping sessions (clash warnings) in Asia/Tokyo while the browser is
# in America/New_York (both times shown).
#
# Each check of t/tools/web/pages.mjs is one TAP test; screenshots of
# every page at phone (390x844) and desktop (1280x800) width are kept in
# $TEST_CONFHAVEN_ARTIFACTS/web/ (ci/test: .run/test/artifacts/web/, with
# make test-sanitize .run/test-sanitize/artifacts/web/).
#
# Skips (skip_all) only when npm is missing: in CI it is not.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Cwd ();
use File::Path ();
use JSON::PP;
use Test::More;

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

(my $conf = <<'EOF') =~ s/\@ROOT\@/$ROOT/g;
confhaven_pg_server "%%DSN%%";
default_type application/json;
charset_types application/json;

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

    location /sse {
        confhaven_mcp_sse on;
    }

    location /api/admin/ {
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
EOF
$t->write_conf($conf);
$t->run();

my $r = $t->import_file('community-developer-connect-2027',
                        'sessionize-all_community-developer-connect-2027.json',
                        name => 'Community Developer Connect 2027',
                        timezone => 'Europe/London', timeout => 60);
$r->{status} == 200 or BAIL_OUT("sample import: $r->{status} $r->{body}");

# ---- the hostile schedule (Sessionize "All" JSON)
my $img = '<img src=x onerror="window.__xss=1;alert(1)">';
my $hostile = {
    sessions => [
        { id => 'x1', title => "$img Pwned title one",
          description => "Before <script>window.__xss=2;alert(2)</script> "
                         . "and <img src=/evil onerror=alert(3)> after.\n\n"
                         . '<svg onload="window.__xss=4"></svg> second '
                         . 'paragraph.',
          startsAt => '2030-05-10T10:00:00', endsAt => '2030-05-10T11:00:00',
          isServiceSession => JSON::PP::false, isPlenumSession => JSON::PP::false,
          speakers => ['s1'], categoryItems => [], questionAnswers => [],
          roomId => 1 },
        { id => 'x2', title => 'Overlapping talk two pwned',
          description => 'Starts while the first one runs.',
          startsAt => '2030-05-10T10:30:00', endsAt => '2030-05-10T11:30:00',
          isServiceSession => JSON::PP::false, isPlenumSession => JSON::PP::false,
          speakers => ['s2'], categoryItems => [], questionAnswers => [],
          roomId => 2 },
        { id => 'x3', title => 'Later talk three pwned',
          description => 'After both.',
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
          fullName => 'Alice Example', bio => undef, sessions => ['x2', 'x3'],
          categoryItems => [], questionAnswers => [] },
    ],
    rooms => [ { id => 1, name => '<iframe src=/evil></iframe> Room', sort => 0 },
               { id => 2, name => 'Hall 2', sort => 1 } ],
    categories => [], questions => [],
};
my $file = $t->write_file('hostile.json', JSON::PP->new->utf8->encode($hostile));
$r = $t->import_file('xss-conf-2030', $file, name => 'XSS <Conf> 2030',
                     timezone => 'Asia/Tokyo');
is($r->{status}, 200, 'the hostile schedule imports')
    or BAIL_OUT("hostile import: $r->{status} $r->{body}");

my $found = $t->get_json('/api/sessions?conference=xss-conf-2030&limit=10');
my %by = map { $_->{external_id} => $_ } @{ $found->{json}{sessions} // [] };
is(scalar keys %by, 3, 'its three sessions are found')
    or BAIL_OUT('search: ' . ($found->{body} // ''));

my $some = $t->get_json('/api/sessions?conference=community-developer-connect-2027'
                        . '&q=azure&limit=1');
my $sid = $some->{json}{sessions}[0]{id} // BAIL_OUT('no sample session');
my $s = $t->get_json("/api/sessions/$sid")->{json};
(my $abstract_start = $s->{abstract} // '') =~ s/^(.{30}).*/$1/s;

my $fixture = {
    conference => 'community-developer-connect-2027',
    xss_conference => 'xss-conf-2030',
    session => { id => $s->{id}, title => $s->{title}, room => $s->{room},
                 speakers => $s->{speakers}, timezone => $s->{timezone},
                 abstract_start => $abstract_start },
    xss => { id => $by{x1}{id}, title => $by{x1}{title} },
    clash => [ map { { id => $by{$_}{id}, title => $by{$_}{title} } }
               qw(x1 x2 x3) ],
};

File::Path::make_path($ART);
my ($rc, $out) = $node->run(
    [ $node->node, $web->path('pages.mjs'),
      '--base', 'http://127.0.0.1:' . $t->port(1),
      '--artifacts', $ART,
      '--fixture', JSON::PP->new->canonical->encode($fixture) ],
    timeout => 300, env => { CHROMIUM => $CHROMIUM });

my ($json) = $out =~ /(\{"checks".*\})\s*\z/s;
my $res = defined $json ? eval { JSON::PP->new->utf8->decode($json) } : undef;
if (ref $res ne 'HASH') {
    fail('pages.mjs reported its checks');
    diag("exit $rc:\n$out");
    $t->done_testing();
    exit;
}
(my $noise = $out) =~ s/\Q$json\E\s*\z//;
diag("pages.mjs said:\n$noise") if $noise =~ /\S/;

for my $c (@{ $res->{checks} }) {
    ok($c->{ok}, $c->{name}) or diag($c->{detail} // '');
}
cmp_ok(scalar @{ $res->{checks} }, '>=', 90, 'every step of pages.mjs ran');
is($rc, 0, 'pages.mjs exited 0');

my @shots = glob("$ART/*.png");
cmp_ok(scalar @shots, '>=', 8, 'screenshots at phone and desktop width kept '
       . "in $ART");

# the pages themselves, without a browser: the same headers everywhere
for my $p ('/', '/search', '/session', '/agenda', '/sessions/1',
           '/assets/search.js', '/assets/site.css')
{
    my $h = $t->http('GET', $p);
    is($h->{status}, 200, "$p: 200");
    like($h->{headers}{'content-security-policy'} // '',
         qr/frame-ancestors 'none'/, "$p: with a Content-Security-Policy");
}
is($t->http('GET', '/search.html')->{status}, 404,
   'html files are reached by their page names only');
is($t->get_json('/api/sessions?limit=1')->{status}, 200,
   'the API is still answered next to the pages');

$t->done_testing();
