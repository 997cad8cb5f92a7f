#!/usr/bin/perl

# The Redis result cache (issue 4), against a private Redis of this file so
# that it can be stopped, slowed, restarted with a password and reached over
# a unix socket without disturbing other tests:
#   - MISS then HIT for the conference list, a conference, a session and a
#     search; 404s and bad requests are not cached;
#   - canonical keys: parameter order, spacing and the letter case of slugs
#     and booleans are one key (q is keyed exactly: t/rest_cache_case.t),
#     defaults are filled in, a different limit / include_past is another;
#   - unusual characters in q round-trip and never reach Redis keys;
#   - the search TTL (EXPIRED after it), values much larger than a reply;
#   - an import invalidates exactly its conference (and the cross-conference
#     entries) before it answers; a changed schedule is visible at once, also
#     while a slow query for the same key is still running;
#   - concurrent misses of one key run one database query (with the cache
#     on and off);
#   - Redis stopped, restarted, slow (DEBUG SLEEP), with a password (right
#     and wrong) and over a unix socket with a database number.
#
# confhaven.api_search is wrapped in this file's database by a function that
# records each call in confhaven.test_calls, calls a copy of the original
# (api_search_orig), then sleeps confhaven.test_delay seconds before it
# returns that answer (a slow query that saw the data as of its start).
#
# The cache status is read from the X-Cache-Status response header
# (add_header ... $confhaven_cache_status always) and the access log.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);

use ConfHaven::Test;

my $X = 'community-developer-connect-2027';      # the one re-imported
my $X_FILE = 'sessionize-all_community-developer-connect-2027.json';
my $Y = 'scottish-summit-2026';                  # the one that stays cached
my $Y_FILE = 'sessionize-all_scottish-summit-2026.json';

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->worker_processes(1);
$t->private_redis();
$t->plan(138);

$t->db();
$t->psql(<<'SQL');
DO $do$ BEGIN
    EXECUTE replace(pg_get_functiondef(
        'confhaven.api_search(text, text, text, text, integer, boolean, text, text, text, text, '
        'text, text, text, text, boolean)'::regprocedure),
        'api_search', 'api_search_orig');
END $do$;
CREATE TABLE confhaven.test_delay (seconds float8 NOT NULL);
INSERT INTO confhaven.test_delay VALUES (0);
CREATE TABLE confhaven.test_calls (id bigserial PRIMARY KEY, query_text text,
                                   at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE OR REPLACE FUNCTION confhaven.api_search(
    q text, conference text, track text, level text, lim integer, include_past boolean,
    speaker text, room text, day text, starts_after text, starts_before text, language text,
    page_offset text, cursor text, facets boolean DEFAULT true)
RETURNS json LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v json;
BEGIN
    INSERT INTO confhaven.test_calls (query_text) VALUES (api_search.q);
    -- answer first, then sleep: a slow query whose snapshot is taken when
    -- it starts (data committed meanwhile is not in its answer)
    v := confhaven.api_search_orig(api_search.q, api_search.conference,
                                   api_search.track, api_search.level,
                                   api_search.lim, api_search.include_past,
                                   api_search.speaker, api_search.room, api_search.day,
                                   api_search.starts_after, api_search.starts_before,
                                   api_search.language, api_search.page_offset,
                                   api_search.cursor, api_search.facets);
    PERFORM pg_sleep((SELECT seconds FROM confhaven.test_delay));
    RETURN v;
END
$$;
SQL

sub delay { $t->psql("UPDATE confhaven.test_delay SET seconds = $_[0]") }
sub calls { $t->psql("SELECT count(*) FROM confhaven.test_calls") }

my $LOG = '$status $confhaven_cache_status $confhaven_route db=$confhaven_db_time "$request_uri"';

sub conf {
    my (%o) = @_;
    my $redis = $o{redis} // 'redis://%%REDIS%%';
    my $http = $o{http} // '';
    return <<"EOF";
log_format cache '$LOG';
confhaven_pg_server "%%DSN%%";
confhaven_redis_server $redis;
confhaven_redis_timeout 200ms;
$http
server {
    listen 127.0.0.1:%%PORT_1%%;
    access_log %%TESTDIR%%/cache.log cache;
    add_header X-Cache-Status \$confhaven_cache_status always;
    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
        client_max_body_size 32m;
        client_body_buffer_size 32m;
    }
}
server {
    listen 127.0.0.1:%%PORT_2%%;
    access_log %%TESTDIR%%/cache.log cache;
    add_header X-Cache-Status \$confhaven_cache_status always;
    confhaven_cache_ttl_search 1s;
    location / { confhaven_rest on; }
}
server {
    listen 127.0.0.1:%%PORT_3%%;
    access_log %%TESTDIR%%/cache.log cache;
    add_header X-Cache-Status \$confhaven_cache_status always;
    confhaven_cache off;
    location / { confhaven_rest on; }
}
EOF
}

# GET with timing and the cache status ('' when the header is absent)
sub get {
    my ($path, %o) = @_;
    my $t0 = time();
    my $r = $t->get_json($path, %o);
    $r->{elapsed} = time() - $t0;
    $r->{cs} = $r->{headers}{'x-cache-status'} // '';
    return $r;
}

sub cs { return get(@_)->{cs} }
sub sc { my $r = get(@_); return "$r->{status} $r->{cs}" }

sub titles {
    my ($r) = @_;
    return [] unless ref $r->{json} eq 'HASH' && ref $r->{json}{sessions} eq 'ARRAY';
    return [map { $_->{title} } @{$r->{json}{sessions}}];
}

# a copy of a Sessionize file with some session titles changed
sub sessionize_with {
    my ($file, $name, %titles) = @_;
    my $doc = $t->json->decode($t->read_file($t->samples_dir . "/$file"));
    for my $s (@{$doc->{sessions}}) {
        $s->{title} = $titles{$s->{id}} if exists $titles{$s->{id}};
    }
    return $t->write_file($name, $t->json->encode($doc));
}

sub esc {
    my ($s) = @_;
    utf8::encode($s);    # a character string: UTF-8 bytes, percent-encoded
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# poll PATH until its cache status is HIT; returns seconds waited or undef
# redis_up(SECONDS): wait until the worker's Redis connection is up
# (/health says "ok"); a request before that is a BYPASS, which a slow
# start (make test-sanitize, a busy machine) makes likely
sub redis_up {
    my ($secs) = @_;
    my $t0 = time();
    while (time() - $t0 < $secs) {
        my $h = get('/health');
        return 1 if ref $h->{json} eq 'HASH' && ref $h->{json}{redis} eq 'HASH'
                    && ($h->{json}{redis}{status} // '') eq 'ok';
        sleep 0.1;
    }
    return 0;
}

sub wait_hit {
    my ($path, $secs) = @_;
    my $t0 = time();
    while (time() - $t0 < $secs) {
        return time() - $t0 if cs($path) eq 'HIT';
        sleep 0.1;
    }
    return undef;
}

$t->write_conf(conf());
$t->run();

# ---------------------------------------------------------------- data

my $BIG_SLUG = $t->shared_dir && -f $t->shared_dir . '/frab-xml_fosdem-2025.schedule.xml'
    ? 'fosdem-2025' : '31c3';
my $BIG_FILE = $BIG_SLUG eq 'fosdem-2025'
    ? $t->shared_dir . '/frab-xml_fosdem-2025.schedule.xml' : 'frab-xml_31c3-2014.schedule.xml';

my $imp = $t->import_file($X, $X_FILE, name => 'Community Developer Connect 2027',
                          timezone => 'Europe/London');
is($imp->{status}, 200, "import $X") or diag($imp->{body});
$imp = $t->import_file($Y, $Y_FILE, name => 'Scottish Summit 2026', timezone => 'Europe/London');
is($imp->{status}, 200, "import $Y") or diag($imp->{body});
my $t0 = time();
$imp = $t->import_file($BIG_SLUG, $BIG_FILE, timezone => 'Europe/Brussels', timeout => 120);
is($imp->{status}, 200, "import $BIG_SLUG (large values)") or diag($imp->{body});
diag(sprintf 'import of %s: %.1f s', $BIG_SLUG, time() - $t0);

# ---------------------------------------------------- MISS, then HIT

my $r1 = get('/api/conferences');
my $r2 = get('/api/conferences');
is("$r1->{status} $r1->{cs}", '200 MISS', 'conference list: MISS first');
is("$r2->{status} $r2->{cs}", '200 HIT', 'conference list: HIT second');
is($r2->{body}, $r1->{body}, 'conference list: HIT body = MISS body');
is(cs('/api/conferences?include_past=true'), 'MISS', 'include_past=true list: another key');
is(cs('/api/conferences?include_past=false'), 'HIT', 'include_past=false list: the default key');

$r1 = get("/api/conferences/$X");
$r2 = get("/api/conferences/$X");
is("$r1->{status} $r1->{cs}", '200 MISS', 'conference: MISS first');
is("$r2->{status} $r2->{cs}", '200 HIT', 'conference: HIT second');
is($r2->{body}, $r1->{body}, 'conference: HIT body = MISS body');

my $SX = "/api/sessions?conference=$X";
my $sx1 = get($SX);
my $sx2 = get($SX);
is("$sx1->{status} $sx1->{cs}", '200 MISS', 'search: MISS first');
is("$sx2->{status} $sx2->{cs}", '200 HIT', 'search: HIT second');
is($sx2->{body}, $sx1->{body}, 'search: HIT body = MISS body');
my @xs = ref $sx1->{json} eq 'HASH' ? @{$sx1->{json}{sessions}} : ();
cmp_ok(scalar @xs, '>=', 2, "search for $X finds sessions");
my ($X_ID, $X_EXT) = ($xs[0]{id} // 0, $xs[0]{external_id} // '');

$r1 = get("/api/sessions/$X_ID");
$r2 = get("/api/sessions/$X_ID");
is("$r1->{status} $r1->{cs}", '200 MISS', 'session: MISS first');
is("$r2->{status} $r2->{cs}", '200 HIT', 'session: HIT second');
is($r2->{body}, $r1->{body}, 'session: HIT body = MISS body');
is($r2->{headers}{'content-type'}, $r1->{headers}{'content-type'}, 'session: same content type');

is(sc('/api/sessions/987654321'), '404 MISS', 'unknown session: 404 MISS');
is(sc('/api/sessions/987654321'), '404 MISS', 'unknown session again: 404 MISS (404s are not cached)');
get('/api/sessions?conference=no-such-conference');
is(sc('/api/sessions?conference=no-such-conference'), '400 MISS',
   'unknown conference twice: 400 MISS (errors are not cached)');

# ------------------------------------------------------ canonical keys

my $SY = "/api/sessions?q=azure&conference=$Y&include_past=true";
my $sy1 = get($SY);
is("$sy1->{status} $sy1->{cs}", '200 MISS', 'search Y: MISS');
cmp_ok(scalar @{titles($sy1)}, '>', 0, 'search Y: sessions found');
my $v = get("/api/sessions?include_past=true&conference=$Y&q=azure");
is($v->{cs}, 'HIT', 'other parameter order: HIT');
is($v->{body}, $sy1->{body}, 'other parameter order: same body');
is(cs('/api/sessions?q=azure&conference=' . uc($Y) . '&include_past=TRUE'), 'HIT',
   'other letter case of the slug and the boolean: HIT');
is(cs("/api/sessions?q=%20%20azure%20%20&conference=%20$Y%20&include_past=true"), 'HIT',
   'leading/trailing spaces (%20): HIT');
is(cs("/api/sessions?q=++azure+&conference=$Y&include_past=1"), 'HIT',
   'spaces as +, include_past=1: HIT');
is(cs("/api/sessions?q=azure&conference=$Y&include_past=true&limit=20"), 'HIT',
   'limit=20 is the default: HIT');
is(cs("/api/sessions?q=azure&conference=$Y&include_past=true&limit=5"), 'MISS',
   'limit=5: another key (MISS)');
$v = get("/api/sessions?limit=5&q=azure&include_past=yes&conference=$Y");
is($v->{cs}, 'HIT', 'limit=5 again, reordered: HIT');
cmp_ok(scalar @{titles($v)}, '<=', 5, 'limit=5: at most 5 sessions');
is(cs("/api/sessions?q=azure&conference=$Y"), 'MISS', 'include_past default (false): another key');
is(cs("/api/sessions?q=azure&conference=$Y&include_past=false"), 'HIT',
   'include_past=false is the default: HIT');
is(cs('/api/sessions?q=cloud%20%20%20native&include_past=true'), 'MISS', 'q with a run of spaces: MISS');
is(cs('/api/sessions?q=cloud+native&include_past=true'), 'HIT', 'one space: HIT');

# ------------------------------------------------- unusual characters

my @odd = ('"zero trust"', '100% uptime', "\x{1F680} rocket", 'c*', 'what?', '[draft]',
           'a  b   c', "d'arcy OR o\"brien", "\x{00FC}ber caf\x{00E9}", 'x{1}|y$');
for my $q (@odd) {
    my $p = '/api/sessions?include_past=true&q=' . esc($q);
    my $a = get($p);
    my $b = get($p);
    (my $show = $q) =~ s/([^\x20-\x7e])/sprintf('\\x{%X}', ord $1)/ge;
    is("$a->{status} $a->{cs} $b->{status} $b->{cs}", '200 MISS 200 HIT', "q=$show: MISS then HIT")
        or diag($a->{body});
    ok(length($a->{body} // '') && $a->{body} eq $b->{body}, "q=$show: HIT body = MISS body");
}

my @keys = split /\n/, $t->redis_cli('--scan');
my @bad = grep { !/^confhaven:v1:(?:[0-9a-f]{40}|generation|tag:(?:\*|[a-z0-9][a-z0-9-]*))$/ } @keys;
is(scalar @bad, 0, 'Redis keys: only confhaven:v1: + 40 hex, generation or tag:<slug>')
    or diag(join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]);
my @entries = grep { /^confhaven:v1:[0-9a-f]{40}$/ } @keys;
cmp_ok(scalar @entries, '>=', 15, 'Redis keys: the entries are there (' . scalar(@entries) . ')');
my $raw = join "\n", @keys;
ok(!grep({ my $w = $_; utf8::encode($w); index($raw, $w) >= 0 } 'zero', 'uptime', 'rocket', 'draft',
          "\x{1F680}", 'azure', 'arcy'),
   'Redis keys: no request text in them');
my %tags = map { $_ => 1 } grep { /:tag:/ } @keys;
ok($tags{"confhaven:v1:tag:$X"} && $tags{"confhaven:v1:tag:$Y"} && $tags{'confhaven:v1:tag:*'},
   "Redis keys: tags for $X, $Y and *")
    or diag(join ' ', sort keys %tags);

# ---------------------------------------------------------------- TTL

my $TQ = '/api/sessions?q=kubernetes&include_past=true&limit=3';
is(sc($TQ, port => 2), '200 MISS', 'ttl 1s: MISS');
is(sc($TQ, port => 2), '200 HIT', 'ttl 1s: HIT at once');
sleep 1.5;
is(sc($TQ, port => 2), '200 EXPIRED', 'ttl 1s: EXPIRED after 1.5 s');
is(sc($TQ, port => 2), '200 HIT', 'ttl 1s: HIT again (refreshed by the EXPIRED request)');
my $ttl = 0;
for my $k (@{[grep { /^confhaven:v1:[0-9a-f]{40}$/ } split /\n/, $t->redis_cli('--scan')]}) {
    my $v = $t->redis_cli('GET', $k);
    next unless $v =~ /"kubernetes"/ && $v =~ /"limit"\s*:\s*3\b/;
    $ttl = $t->redis_cli('TTL', $k);
}
ok($ttl > 0 && $ttl <= 61, "ttl 1s: Redis keeps the entry at most 1 s + 60 s grace (TTL $ttl)");

# ------------------------------------------------------- large values

my $LQ = "/api/sessions?conference=$BIG_SLUG&include_past=true&limit=50";
my $l1 = get($LQ, timeout => 30);
my $l2 = get($LQ, timeout => 30);
is("$l1->{status} $l1->{cs} $l2->{status} $l2->{cs}", '200 MISS 200 HIT', "$BIG_SLUG limit=50: MISS then HIT");
my $typical = length($sx1->{body} // '');
cmp_ok(length($l1->{body} // ''), '>', ($typical * 2 > 16384 ? $typical * 2 : 16384),
       "$BIG_SLUG limit=50: a large value (" . length($l1->{body} // '')
       . " bytes; a default search reply: $typical; hiredis reads 16 KB at a time)");
ok(defined $l2->{body} && $l1->{body} eq $l2->{body}, 'large value: HIT body byte-identical to MISS body');
is($l2->{headers}{'content-length'}, length($l2->{body} // ''), 'large value: Content-Length of the HIT');
is(scalar @{titles($l2)}, 50, 'large value: 50 sessions');

# ----------------------------------------- import invalidates exactly

my $SY_ID = $sy1->{json}{sessions}[0]{id} // 0;
my $SALL = '/api/sessions?q=azure&include_past=true';
my %warm = ('search X' => $SX, 'session X' => "/api/sessions/$X_ID",
            'conference X' => "/api/conferences/$X", 'conference list' => '/api/conferences',
            'search all' => $SALL, 'search Y' => $SY, 'session Y' => "/api/sessions/$SY_ID",
            'conference Y' => "/api/conferences/$Y");
get($_) for values %warm;
is(join(' ', map { cs($warm{$_}) } sort keys %warm), join(' ', ('HIT') x keys %warm),
   'before the import: all entries HIT');

my $CANARY1 = 'Cache canary one ' . int(rand 1e6);
my $f1 = sessionize_with($X_FILE, 'x1.json', $X_EXT => $CANARY1);
$imp = $t->import_file($X, $f1, name => 'Community Developer Connect 2027', timezone => 'Europe/London');
is($imp->{status}, 200, "re-import of $X with a changed title") or diag($imp->{body});

$v = get($SX);
is($v->{cs}, 'MISS', 'after the import: search X is a MISS');
is(titles($v)->[0], $CANARY1, 'after the import: search X shows the new title at once');
$v = get("/api/sessions/$X_ID");
is($v->{cs}, 'MISS', 'after the import: session X is a MISS');
is(ref $v->{json} eq 'HASH' ? $v->{json}{title} : undef, $CANARY1, 'after the import: session X has the new title');
is(cs("/api/conferences/$X"), 'MISS', 'after the import: conference X is a MISS');
is(cs('/api/conferences'), 'MISS', 'after the import: the conference list (all conferences) is a MISS');
is(cs($SALL), 'MISS', 'after the import: a search over all conferences is a MISS');
is(cs($SY), 'HIT', "after the import: a search restricted to $Y stays a HIT");
is(cs("/api/sessions/$SY_ID"), 'HIT', "after the import: a session of $Y stays a HIT");
is(cs("/api/conferences/$Y"), 'HIT', "after the import: conference $Y stays a HIT");
$v = get($SX);
is("$v->{cs} " . (titles($v)->[0] // ''), "HIT $CANARY1", 'search X cached again, with the new title');

# A slow search of X is running when X is re-imported: the import answers
# (after invalidating), and a read of the same search that starts after the
# import answered must see the new schedule, not the running query's.

# (the slow search takes 8 s, so a busy machine still has the import
# answer well before it; answering within those 8 s is what shows that the
# import did not wait for it)
delay(8);
my $RQ = "/api/sessions?conference=$X&include_past=true&limit=50";
my $CANARY2 = 'Cache canary two ' . int(rand 1e6);
my $f2 = sessionize_with($X_FILE, 'x2.json', $X_EXT => $CANARY2);
my $ha = $t->http_start('GET', $RQ, headers => ['Accept' => 'application/json'], timeout => 40);
sleep 0.3;
my $ti = time();
$imp = $t->import_file($X, $f2, name => 'Community Developer Connect 2027', timezone => 'Europe/London');
my $import_done = time() - $ti + 0.3;
is($imp->{status}, 200, 're-import while a slow search of the conference runs: 200');
cmp_ok($import_done, '<', 8, 'the import answered while the slow search was still running');
my $rb = get($RQ, timeout => 20);
my $ra = $t->http_finish($ha);
is($ra->{status}, 200, 'the slow search that started before the import: 200');
is(titles($rb)->[0], $CANARY2,
   'a search that starts after the import answered shows the new title (no stale in-flight answer)')
    or diag("its cache status: $rb->{cs}; the slow one's first title: " . (titles($ra)->[0] // 'none'));
delay(0);
$v = get($RQ);
is(titles($v)->[0], $CANARY2, 'the next read of that search shows the new title');
is($t->psql("SELECT title FROM confhaven.sessions WHERE id = $X_ID"), $CANARY2, 'database has the new title');

# every key the cache writes expires, the invalidation generation too
my @nottl = grep { ($t->redis_cli('TTL', $_) =~ /(-?\d+)/)[0] < 0 }
            split /\n/, $t->redis_cli('--scan');
is(scalar @nottl, 0, 'after imports every cache key has a TTL (' . join(' ', @nottl) . ')');

# An import through a slug with surrounding blanks ("%20slug") is an import
# of "slug" (the database trims it): the cache must forget that conference.
is(cs($SY), 'HIT', "search $Y: HIT before the next import");
my $CANARY3 = 'Cache canary three ' . int(rand 1e6);
my $y_ext = $t->psql("SELECT external_id FROM confhaven.sessions WHERE id = $SY_ID");
my $f3 = sessionize_with($Y_FILE, 'y3.json', $y_ext => $CANARY3);
$imp = $t->import_file(" $Y", $f3, name => 'Scottish Summit 2026', timezone => 'Europe/London');
diag("import via slug \" $Y\": $imp->{status}");
my $dbt = $t->psql("SELECT title FROM confhaven.sessions WHERE id = $SY_ID");
$v = get("/api/sessions/$SY_ID");
is(ref $v->{json} eq 'HASH' ? $v->{json}{title} : undef, $dbt,
   "session of $Y after an import via \" $Y\": the database's title ($v->{cs})");
$v = get($SY);
my ($hit) = grep { $_->{id} == $SY_ID } @{ref $v->{json} eq 'HASH' ? $v->{json}{sessions} : []};
is($hit ? $hit->{title} : undef, $dbt, "search $Y after an import via \" $Y\": the database's title ($v->{cs})");

# Redis full (maxmemory reached, noeviction): reads still work, nothing new
# is stored, and an import must still not leave the old answers readable.

get($SX);
get("/api/sessions/$X_ID");
is(cs($SX) . ' ' . cs("/api/sessions/$X_ID"), 'HIT HIT', 'before Redis is full: search and session of X HIT');
$t->redis_cli('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
$t->redis_cli('CONFIG', 'SET', 'maxmemory', '1');
my $FQ = "/api/sessions?q=power&conference=$X";
is(sc($FQ) . ' ' . sc($FQ), '200 MISS 200 MISS', 'Redis full: a new search is answered (200) but not stored');
my $CANARY4 = 'Cache canary four ' . int(rand 1e6);
my $f4 = sessionize_with($X_FILE, 'x4.json', $X_EXT => $CANARY4);
$imp = $t->import_file($X, $f4, name => 'Community Developer Connect 2027', timezone => 'Europe/London');
is($imp->{status}, 200, 'Redis full: re-import of X answers 200');
$v = get("/api/sessions/$X_ID");
is(ref $v->{json} eq 'HASH' ? $v->{json}{title} : undef, $CANARY4,
   "Redis full: session X after the import has the new title ($v->{cs})");
$v = get($SX);
is(titles($v)->[0], $CANARY4, "Redis full: search X after the import shows the new title ($v->{cs})");
$t->redis_cli('CONFIG', 'SET', 'maxmemory', '0');

# ------------------------------------------------------------ stampede

delay(1);
$t->psql('TRUNCATE confhaven.test_calls');
my $SQ = '/api/sessions?q=security&include_past=true&limit=7';
my @h = map { $t->http_start('GET', $SQ, headers => ['Accept' => 'application/json']) } 1 .. 10;
my @r = $t->http_finish(@h);
is(join(' ', map { $_->{status} // 'none' } @r), join(' ', ('200') x 10), '10 concurrent identical searches: all 200');
is(scalar(grep { defined $_->{body} && $_->{body} eq $r[0]{body} } @r), 10, '10 concurrent searches: identical bodies');
is(calls(), 1, '10 concurrent searches: exactly 1 database call');
is(join(' ', map { $_->{headers}{'x-cache-status'} // '' } @r), join(' ', ('MISS') x 10),
   '10 concurrent searches: all MISS');
my $max = 0;
for (@r) { $max = $_->{elapsed} if $_->{elapsed} > $max }
cmp_ok($max, '<', 2.5, sprintf('10 concurrent searches answered together (slowest %.2f s)', $max));
$v = get($SQ);
is("$v->{cs} " . calls(), 'HIT 1', 'next search: HIT, still 1 database call');

$t->psql('TRUNCATE confhaven.test_calls');
my $OQ = '/api/sessions?q=identity&include_past=true&limit=9';
@h = map { $t->http_start('GET', $OQ, port => 3, headers => ['Accept' => 'application/json']) } 1 .. 6;
@r = $t->http_finish(@h);
is(join(' ', map { ($_->{status} // 'none') . '/' . ($_->{headers}{'x-cache-status'} // '-') } @r),
   join(' ', ('200/-') x 6), 'confhaven_cache off: 6 concurrent searches 200, no cache status');
is(calls(), 1, 'confhaven_cache off: concurrent searches still share 1 database call');
delay(0);

# ---------------------------------------------------------- Redis down

my $K = "/api/sessions?q=devops&conference=$X";
get($K);
is(cs($K), 'HIT', 'before Redis stops: HIT');

$t->redis_stop();
my @down = map { get($_) } $K, $K, $SY, "/api/sessions/$X_ID", '/api/conferences', $K;
is(join(' ', map { $_->{status} } @down), join(' ', ('200') x @down), 'Redis stopped: every request 200');
is(join(' ', map { $_->{cs} } @down), join(' ', ('BYPASS') x @down), 'Redis stopped: BYPASS');
my $slow = (sort { $b <=> $a } map { $_->{elapsed} } @down)[0];
# a stopped Redis refuses connections at once; a worker that waited on it
# would hang, so the bound is loose (a loaded machine is slow, not hung)
cmp_ok($slow, '<', 3, sprintf('Redis stopped: answered without waiting (slowest %.3f s)', $slow));
$v = get('/health');
is($v->{status}, 200, 'Redis stopped: /health 200');
is(ref $v->{json} eq 'HASH' ? $v->{json}{redis}{status} : undef, 'unavailable', '/health: redis unavailable');
is(ref $v->{json} eq 'HASH' ? "$v->{json}{status} $v->{json}{database}{status}" : undef, 'ok ok',
   '/health: overall ok, database ok');
$t0 = time();
$imp = $t->import_file($Y, $Y_FILE, name => 'Scottish Summit 2026', timezone => 'Europe/London');
is($imp->{status}, 200, 'Redis stopped: an import still answers 200');

$t->redis_start();
my $w = wait_hit($K, 10);
ok(defined $w, 'Redis restarted: HIT again within 10 s' . (defined $w ? sprintf(' (%.1f s)', $w) : ''));
$v = get('/health');
is(ref $v->{json} eq 'HASH' ? $v->{json}{redis}{status} : undef, 'ok', 'Redis restarted: /health redis ok');

# ---------------------------------------------------------- Redis slow

get($K);
is(cs($K), 'HIT', 'before Redis sleeps: HIT');
my $sleeper = $t->run_daemon(sub { $t->redis_cli('DEBUG', 'SLEEP', 2) });
sleep 0.3;
my @slow = map { get($_) } $K, $SY, $K, $K, "/api/sessions/$X_ID";
is(join(' ', map { $_->{status} } @slow), join(' ', ('200') x @slow), 'Redis asleep: every request 200');
is(scalar(grep { $_->{cs} eq 'BYPASS' || $_->{cs} eq 'MISS' } @slow), scalar @slow,
   'Redis asleep: BYPASS or MISS (' . join(' ', map { $_->{cs} } @slow) . ')');
# Redis sleeps 2 s: an answer before that did not wait for it
cmp_ok($slow[0]{elapsed}, '<', 1.7, sprintf('Redis asleep: first request after the 200ms timeout, not after Redis woke (%.3f s)', $slow[0]{elapsed}));
$slow = (sort { $b <=> $a } map { $_->{elapsed} } @slow)[0];
cmp_ok($slow, '<', 1.7, sprintf('Redis asleep: no request waits for Redis to wake (slowest %.3f s)', $slow));
waitpid($sleeper, 0);
$w = wait_hit($K, 10);
ok(defined $w, 'Redis awake: HIT again within 10 s' . (defined $w ? sprintf(' (%.1f s)', $w) : ''));

# ---------------------------------------------------- Redis with AUTH

$t->stop();
$t->redis_stop();
$t->redis_start(password => 'cache-secret-42');
my $pw = $t->write_file('redis.password', "cache-secret-42\n", 0600);
$t->write_conf(conf(http => "confhaven_redis_password_file $pw;"));
$t->run();
my $PQ = "/api/sessions?q=testing&conference=$X&include_past=true";
redis_up(10);
is(sc($PQ), '200 MISS', 'password: MISS');
is(sc($PQ), '200 HIT', 'password: HIT');
$v = get('/health');
is(ref $v->{json} eq 'HASH' ? $v->{json}{redis}{status} : undef, 'ok', 'password: /health redis ok');
$t->stop();

my $bad = $t->write_file('redis.wrong', "not-the-password\n", 0600);
$t->write_conf(conf(http => "confhaven_redis_password_file $bad;"));
my $logoff = length $t->error_log;
$t->run();
sleep 0.3;
$v = get($PQ);
is("$v->{status} $v->{cs}", '200 BYPASS', 'wrong password: 200 BYPASS');
cmp_ok($v->{elapsed}, '<', 3, sprintf('wrong password: answered without waiting (%.3f s)', $v->{elapsed}));
$v = get('/health');
is($v->{status} . ' ' . (ref $v->{json} eq 'HASH' ? $v->{json}{redis}{status} : ''), '200 unavailable',
   'wrong password: /health 200, redis unavailable');
my @err = grep { /\[error\].*confhaven redis/ } split /\n/, substr($t->error_log, $logoff);
ok(scalar @err, 'wrong password: an [error] in the log') or diag(substr($t->error_log, $logoff, 2000));
$t->stop();

$t->redis_stop();
$t->redis_start(password => undef);

# ------------------------------------------------ unix socket, db 2

$t->redis_cli('FLUSHALL');
$t->write_conf(conf(redis => 'unix:%%REDIS_SOCKET%%?db=2'));
$t->run();
# the worker connects after it starts: a first request may come before
for (1 .. 50) {
    my $h = get('/health');
    last if ref $h->{json} eq 'HASH' && ($h->{json}{redis}{status} // '') eq 'ok';
    sleep 0.1;
}
my $UQ = "/api/sessions?q=data&conference=$X&include_past=true";
redis_up(10);
is(sc($UQ), '200 MISS', 'unix socket: MISS');
is(sc($UQ), '200 HIT', 'unix socket: HIT');
cmp_ok($t->redis_cli('-n', 2, 'DBSIZE'), '>=', 2, 'unix socket: entries in database 2');
is($t->redis_cli('-n', 0, 'DBSIZE'), 0, 'unix socket: nothing in database 0');
$v = get('/health');
is(ref $v->{json} eq 'HASH' ? $v->{json}{redis}{status} : undef, 'ok', 'unix socket: /health redis ok');
$t->stop();

# --------------------------------------------------------- access log

my @log = split /\n/, $t->read_file('cache.log') // '';
my @hits = grep { /^200 HIT / } @log;
cmp_ok(scalar @hits, '>=', 20, 'access log: $confhaven_cache_status HIT lines');
my @hdb = grep { !/ db=- "/ } @hits;    # the log writes "-" for empty
is(scalar @hdb, 0, 'access log: $confhaven_db_time is empty on a HIT')
    or diag(join "\n", @hdb[0 .. ($#hdb < 4 ? $#hdb : 4)]);
ok((grep { /^200 MISS search db=\d+ "/ } @log) > 0, 'access log: a MISS has a database time');
