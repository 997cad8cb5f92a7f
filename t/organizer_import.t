#!/usr/bin/perl

# An organizer's own schedule import (issue 11):
# POST /api/organizer/conferences/{slug}/import with the organizer's key and
# the admin import's body formats and parameters.  Allowed for a conference
# the organizer owns, or a new slug (created and linked to the organizer,
# one more conference against its tier); a slug that exists and is not the
# organizer's (someone else's or nobody's) is 409 slug_taken.  The cache
# forgets the conference as after an admin import; a failed import changes
# nothing; keys come in headers only.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use POSIX ();
use Test::More;

use ConfHaven::Test;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->worker_processes(1);
$t->private_redis();
$t->plan(43);

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";
confhaven_redis_server redis://%%REDIS%%;

server {
    listen 127.0.0.1:%%PORT_1%%;
    add_header X-Cache-Status $confhaven_cache_status always;

    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF
$t->run();

my @admin = ('Authorization' => 'Bearer ' . $t->admin_key);
my $dir = $t->samples_dir;
my $linz = $t->read_file("$dir/sessionize-all_global-azure-linz-2024.json");
my $qa = $t->read_file("$dir/sessionize-all_qa-or-the-highway-2026.json");
my $frab = $t->read_file("$dir/frab-xml_31c3-2014.schedule.xml");

is($t->import_file('nobodys-conf', 'sessionize-all_scottish-summit-2026.json',
                   name => 'Nobody', timezone => 'Europe/London')->{status},
   200, 'an admin import: a conference nobody owns');

sub organizer {
    my ($name, $tier) = @_;
    my $r = $t->http('POST', "/api/admin/organizers?name=$name&tier=$tier",
                     headers => [@admin]);
    my $id = $r->{json}{id};
    $r = $t->http('POST', "/api/admin/organizers/$id/keys", headers => [@admin]);
    return $r->{json}{key};
}
my $ka = organizer('A', 'pro');
my $kb = organizer('B', 'free');

sub imp {
    my ($slug, $key, %o) = @_;
    my $qs = $o{qs} // '?name=Linz%20Org&timezone=Europe/Vienna';
    return $t->http($o{method} // 'POST',
                    "/api/organizer/conferences/$slug/import$qs",
                    body => $o{body} // $linz,
                    content_type => $o{type} // 'application/json',
                    headers => [ defined $key ? ('X-API-Key' => $key) : (),
                                 @{ $o{headers} // [] } ]);
}

# ---- a new slug: created and the organizer's

my $r = imp('a-linz-2024', $ka);
is($r->{status}, 200, 'A imports a new slug: 200');
ok(($r->{json}{sessions}{total} // 0) > 0, "... $r->{json}{sessions}{total} sessions");
$r = $t->http('GET', '/api/organizer', headers => [ 'X-API-Key' => $ka ]);
is_deeply([ map { $_->{slug} } @{ $r->{json}{conferences} } ], ['a-linz-2024'],
          '... and A owns it');
is($r->{json}{usage}{conferences}, 1, '... counted in its usage');
$r = $t->http('GET', '/api/conferences/a-linz-2024');
is($r->{status}, 200, '... the conference is public');
is($r->{json}{name}, 'Linz Org', '... with the name given');

# ---- its own slug again: replaced, the cache forgets it

my $search = '/api/sessions?conference=a-linz-2024&include_past=true&limit=1';
my $before = $t->http('GET', $search);
my $n1 = $before->{json}{total};
$r = $t->http('GET', $search);
is($r->{headers}{'x-cache-status'}, 'HIT', 'a search of it is cached');
$r = imp('a-linz-2024', $ka, body => $qa);
is($r->{status}, 200, 'A re-imports its own slug (another schedule): 200');
$r = $t->http('GET', $search);
isnt($r->{headers}{'x-cache-status'}, 'HIT', '... the cached search is gone');
isnt($r->{json}{total}, $n1, "... the new sessions ($n1 -> $r->{json}{total})");
$r = imp('a-linz-2024', $ka, body => $frab, type => 'application/xml',
         qs => '');
is($r->{status}, 200, '... frab XML too, without parameters for a known slug');

# ---- slugs that are not yours

$r = imp('a-linz-2024', $kb);
is($r->{status}, 409, "B imports A's slug: 409");
is($r->{json}{error}{code}, 'slug_taken', '... slug_taken');
like($r->{json}{error}{message}, qr/slug taken.*a-linz-2024.*not yours/, '... says so');
for my $look ('a--linz-2024', 'alinz-24', 'a-linz2024') {
    $r = imp($look, $kb);
    is($r->{status} . ' ' . ($r->{json}{error}{message} // ''),
       qq{409 slug taken: "$look" reads as the existing conference "a-linz-2024"},
       "B's new slug $look reads as A's a-linz-2024: 409");
}
is($t->http('GET', '/api/sessions?conference=alinz2024&limit=1')->{status}, 200,
   "... A's conference is still found by its loose name");
$r = imp('nobodys-conf', $ka);
is($r->{status}, 409, "a slug nobody owns: 409");
like($r->{json}{error}{hint} // '', qr/another slug|operator/, '... with a hint');
$r = $t->http('GET', '/api/organizer', headers => [ 'X-API-Key' => $kb ]);
is_deeply($r->{json}{conferences}, [], '... B owns nothing');

# ---- the free tier: one conference

$r = imp('b-first', $kb);
is($r->{status}, 200, 'B (free) imports its first conference');
$r = imp('b-second', $kb);
is($r->{status}, 403, 'B (free) imports a second: 403');
is($r->{json}{error}{code}, 'tier_limit', '... tier_limit');
is($r->{json}{error}{required_tier}, 'pro', '... needs pro');
is($t->http('GET', '/api/conferences/b-second')->{status}, 404, '... nothing created');

# ---- a failed import changes nothing

$r = imp('a-broken', $ka, body => '{"not": "a schedule"}');
is($r->{status}, 422, 'an unreadable schedule: 422');
is($t->psql("SELECT count(*) FROM confhaven.conferences WHERE slug = 'a-broken'"), '0',
   '... no conference');
$r = imp('a-nameless', $ka, qs => '');
is($r->{status}, 400, 'a new slug without name and timezone: 400');

# ---- authentication and bad requests

$r = imp('a-linz-2024', undef);
is($r->{status}, 401, 'no key: 401');
like($r->{headers}{'www-authenticate'} // '', qr/realm="confhaven-organizer"/,
     '... with WWW-Authenticate');
$r = imp('a-linz-2024', 'chk_000000000000_' . ('0' x 48));
is($r->{status}, 401, 'a wrong key: 401');
$r = imp('a-linz-2024', undef, headers => [ @admin ]);
is($r->{status}, 401, 'the admin key is not an organizer key: 401');
$r = imp('a-linz-2024', undef, qs => "?api_key=$ka");
is($r->{status}, 401, 'a key in the URL is not taken');
$r = imp('Bad_Slug', $ka);
is($r->{status}, 400, 'a bad slug: 400');
$r = imp('a-linz-2024', $ka, type => 'text/plain');
is($r->{status}, 415, 'a wrong content type: 415');
$r = imp('a-linz-2024', $ka, method => 'GET');
is($r->{status}, 405, 'GET: 405');
$r = imp('a-linz-2024', $ka, body => '');
is($r->{status}, 400, 'an empty body: 400');

# ---- documented

$r = $t->http('GET', '/api/openapi.json');
my $op = $r->{json}{paths}{'/api/organizer/conferences/{slug}/import'}{post} // {};
is($op->{operationId}, 'organizerImportSchedule', 'OpenAPI documents the route');
ok((grep { exists $_->{organizerKey} } @{ $op->{security} // [] })
   && $op->{responses}{409} && $op->{responses}{403},
   '... with the organizer key, 403 and 409');

# ---- an administrator's import of a new slug still running: the
# organizer's import of the same slug waits for it, then finds the slug
# taken (it used to see no conference, overwrite the administrator's and be
# linked to it)

my $race = 'race-summit-2026';
my $file = '{"sessions":[{"id":"r1","title":"Race talk","description":"x",'
    . '"startsAt":"2026-10-02T09:00:00","endsAt":"2026-10-02T10:00:00",'
    . '"speakers":[],"categoryItems":[]}],"speakers":[],"categories":[],'
    . '"rooms":[]}';
my $held = fork();
die "fork: $!\n" unless defined $held;
if ($held == 0) {
    # the administrator's import, committed 4 s after it ran
    $t->psql("BEGIN; SELECT confhaven.import_schedule('$race', 'Race Summit', "
             . "'Europe/London', NULL, NULL, '$file') IS NOT NULL; "
             . "SELECT pg_sleep(4); COMMIT;", allow_error => 1);
    POSIX::_exit(0);
}
# the import has run and its transaction waits (pg_sleep), uncommitted
my $end = time() + 30;
my $waiting = 0;
while (!$waiting && time() < $end) {
    $waiting = $t->psql("SELECT count(*) FROM pg_stat_activity WHERE "
                        . "query LIKE '%pg_sleep(4)%' AND state = 'active' "
                        . "AND pid <> pg_backend_pid()") > 0;
    select(undef, undef, undef, 0.1) unless $waiting;
}
ok($waiting, 'the administrator\'s import is done, not yet committed');
$r = imp($race, $ka);
waitpid($held, 0);
is($r->{status} . ' ' . ($r->{json}{error}{code} // ''), '409 slug_taken',
   'the organizer\'s import of the same new slug: 409 slug_taken')
    or diag($r->{body});
