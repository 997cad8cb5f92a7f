#!/usr/bin/perl

# GET /api/sessions (search) and GET /api/sessions/{id} on real sample
# schedules imported through the HTTP import endpoint: ranking, filters
# (conference by slug / name, case-insensitive; track; level by name or
# number), limit bounds, include_past, service sessions kept out of search,
# the result and full-session shapes, and times in the conference's own
# UTC offset (BST, AEDT, EDT).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->plan(88);

$t->db();
$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";

server {
    listen 127.0.0.1:%%PORT_1%%;

    error_page 400 404 405 413 414 500 502 503 504 /.confhaven-error;

    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }

    location = /.confhaven-error {
        internal;
        confhaven_json_errors on;
    }
}
EOF
$t->run();


my %sample = map { $_->{slug} => $_ } read_samples($t->samples_dir . '/samples.tsv');

for my $slug (qw(scottish-summit-2026 qa-or-the-highway-2026 pycon-au-2024
                 community-developer-connect-2027))
{
    my $s = $sample{$slug} // {};
    my $r = $t->import_file($slug, $s->{file} // "$slug.missing",
                            map { $_ => $s->{$_} }
                                qw(name timezone location website));
    is($r->{status}, 200, "import $slug")
        or diag(substr($r->{body} // '', 0, 500));
}

my $SS = 'conference=scottish-summit-2026&include_past=true';


# ---- ranking: "copilot agents" at Scottish Summit

my $r = search("q=copilot+agents&$SS&limit=10");
is($r->{status}, 200, 'copilot agents: status');
my $j = obj($r->{json});
my @s = @{ arr($j->{sessions}) };
is($j->{count}, 10, 'copilot agents: 10 results (limit 10)');
is($j->{count}, scalar @s, 'count is the number of sessions returned');
is_deeply(obj($j->{query}),
          { q => 'copilot agents', conference => 'scottish-summit-2026',
            track => undef, level => undef, limit => 10,
            include_past => JSON::PP::true },
          'copilot agents: query echo');
is_deeply([grep { ($_->{title} // '') !~ /copilot|agent/i } @s[0 .. 4]], [],
          'copilot agents: top 5 titles mention copilot or agent');
like($s[0]{title} // '', qr/copilot/i, 'copilot agents: first title has copilot');
like($s[0]{title} // '', qr/agent/i, 'copilot agents: first title has agent');
is_deeply([grep { $_->{conference} ne 'scottish-summit-2026' } @s], [],
          'copilot agents: all from the conference');
my @sc = map { $_->{score} // 0 } @s;
is_deeply(\@sc, [sort { $b <=> $a } @sc], 'copilot agents: scores descending');
ok($sc[0] > 0, 'copilot agents: positive score');

# the result shape
my @summary = qw(id external_id title speakers start end timezone room track
                 level conference snippet);
is_deeply([map { my $x = $_; [grep { !exists $x->{$_} } @summary] } @s],
          [map { [] } @s], 'every result has the summary fields');
is_deeply([grep { ref $_->{speakers} ne 'ARRAY' || !@{ $_->{speakers} } } @s],
          [], 'speakers is a non-empty array of names');
is_deeply([grep { ($_->{id} // '') !~ /^[1-9][0-9]*$/ } @s], [],
          'ids are positive integers');
is_deeply([grep { length($_->{snippet} // '') > 241
                  || ($_->{snippet} // '') =~ /[\r\n]|  |<\w/ } @s],
          [], 'snippets are short, collapsed, without HTML');

# exact title first
$r = search("q=Sheep+herding+with+Agent+365&$SS");
@s = @{ arr(obj($r->{json})->{sessions}) };
is($s[0]{title}, 'Sheep herding with Agent 365', 'exact title ranks first');
ok(@s == 1 || $s[0]{score} > ($s[1]{score} // 0),
   "exact title: scores above the next result");

$r = search("q=would+you+trust+this+agent%3F&$SS");
is(obj(arr(obj($r->{json})->{sessions})->[0])->{title},
   'Would You Trust This Agent?', 'exact title, other case, ranks first');

# a title with leading whitespace in the file comes back trimmed
$r = search("q=gamified+onboarding&$SS");
my $gam = obj(arr(obj($r->{json})->{sessions})->[0]);
is($gam->{title},
   'Design and Build a Gamified Onboarding Agent with M365, Copilot and '
   . 'Power Platform Workshop', 'title is trimmed');


# ---- time zones

is($gam->{start}, '2026-10-02T09:00:00+01:00', 'scottish summit 09:00 BST');
is($gam->{end}, '2026-10-02T17:00:00+01:00', 'scottish summit end 17:00 BST');
is($gam->{timezone}, 'Europe/London', 'scottish summit timezone');
is($gam->{external_id}, '1252943', 'external_id is the Sessionize id');

$r = search('q=Why+UUIDs+are+Secretly+Incredibly+Fascinating'
            . '&conference=pycon-au-2024&include_past=true');
my $uuid = obj(arr(obj($r->{json})->{sessions})->[0]);
is($uuid->{title}, 'Why UUIDs are Secretly Incredibly Fascinating',
   'pycon au: found');
is($uuid->{start}, '2024-11-22T09:20:00+11:00', 'pycon au: start keeps +11:00');
is($uuid->{end}, '2024-11-22T09:50:00+11:00', 'pycon au: end from duration');
is($uuid->{timezone}, 'Australia/Melbourne', 'pycon au: timezone');

$r = search('q=Ensuring+Software+Quality+in+the+world+of+AI+Developers'
            . '&conference=qa-or-the-highway-2026&include_past=true');
my $qa = obj(arr(obj($r->{json})->{sessions})->[0]);
is($qa->{title}, 'Ensuring Software Quality in the world of AI Developers',
   'qa or the highway: found');
is($qa->{start}, '2026-06-12T08:00:00-04:00', 'qa or the highway: EDT -04:00');
is($qa->{end}, '2026-06-12T08:50:00-04:00', 'qa or the highway: end');
is($qa->{timezone}, 'America/New_York', 'qa or the highway: timezone');


# ---- conference filter

$r = search('q=copilot&conference=Scottish-Summit-2026&include_past=true');
is($r->{status}, 200, 'conference slug in another case: 200');
$j = obj($r->{json});
is(obj($j->{query})->{conference}, 'scottish-summit-2026',
   'conference slug in another case: resolved to the slug');
ok($j->{count} > 0 && !grep({ $_->{conference} ne 'scottish-summit-2026' }
                            @{ arr($j->{sessions}) }),
   'conference slug in another case: only that conference');

$r = search('q=copilot&conference=Scottish+Summit+2026&include_past=true');
is(obj(obj($r->{json})->{query})->{conference}, 'scottish-summit-2026',
   'conference by name');

$r = search('q=testing&include_past=true&limit=50');
my %confs = map { $_->{conference} => 1 } @{ arr(obj($r->{json})->{sessions}) };
ok($confs{'qa-or-the-highway-2026'}, 'no conference filter: searches all');

$r = search('q=testing&conference=pycon-au-2024&include_past=true&limit=50');
is_deeply([grep { $_->{conference} ne 'pycon-au-2024' }
           @{ arr(obj($r->{json})->{sessions}) }], [],
          'conference filter excludes other conferences');


# ---- track filter

$r = search("track=copilot+%2B+agents&$SS&limit=50");
is($r->{status}, 200, 'track filter: status');
$j = obj($r->{json});
is($j->{count}, 21, 'track filter (case-insensitive): all 21 sessions');
is_deeply([grep { ($_->{track} // '') ne 'Copilot + Agents' }
           @{ arr($j->{sessions}) }], [], 'track filter: only that track');
is(obj($j->{query})->{track}, 'copilot + agents', 'track filter: echoed');

$r = search("track=No+Such+Track&$SS");
is(obj($r->{json})->{count}, 0, 'unknown track: empty result, not an error');


# ---- level filter

my $lv = search("level=Intermediate&$SS&limit=50");
my $l2 = search("level=200&$SS&limit=50");
my $l3 = search("level=intermediate&$SS&limit=50");
is($lv->{status}, 200, 'level=Intermediate: status');
my @ids = map { $_->{id} } @{ arr(obj($lv->{json})->{sessions}) };
ok(@ids > 0, 'level=Intermediate: results');
is_deeply([grep { ($_->{level} // '') ne 'Intermediate' }
           @{ arr(obj($lv->{json})->{sessions}) }], [],
          'level=Intermediate: only Intermediate sessions');
is_deeply([map { $_->{id} } @{ arr(obj($l2->{json})->{sessions}) }], \@ids,
          'level=200 is Intermediate');
is_deeply([map { $_->{id} } @{ arr(obj($l3->{json})->{sessions}) }], \@ids,
          'level=intermediate (lower case) is Intermediate');
is(obj(obj($l2->{json})->{query})->{level}, 'Intermediate',
   'level=200: echoed as Intermediate');

$r = search("level=300&$SS&limit=50");
is_deeply([grep { ($_->{level} // '') ne 'Advanced' }
           @{ arr(obj($r->{json})->{sessions}) }], [],
          'level=300: only Advanced');


# ---- limit

$r = search('include_past=true&limit=1');
is(obj($r->{json})->{count}, 1, 'limit=1');
$r = search('include_past=true&limit=50');
is(obj($r->{json})->{count}, 50, 'limit=50');
is(obj(obj($r->{json})->{query})->{limit}, 50, 'limit=50: echoed');
$r = search('include_past=true');
is(obj($r->{json})->{count}, 20, 'default limit 20');
is(obj(obj($r->{json})->{query})->{limit}, 20, 'default limit echoed');

# no q: all sessions by start time
my @st = map { $_->{start} } @{ arr(obj($r->{json})->{sessions}) };
is_deeply([map { epoch($_) } @st], [sort { $a <=> $b } map { epoch($_) } @st],
          'no q: ordered by start time');


# ---- include_past

$r = search('q=copilot&conference=scottish-summit-2026');
is($r->{status}, 200, 'past conference without include_past: 200');
$j = obj($r->{json});
is($j->{count}, 0, 'past conference without include_past: count 0');
is_deeply($j->{sessions}, [], 'past conference without include_past: []');
ok(defined obj($j->{query})->{include_past}
   && !obj($j->{query})->{include_past}, 'include_past echoed false');

$r = search('q=copilot&conference=scottish-summit-2026&include_past=true');
ok(obj($r->{json})->{count} > 0, 'with include_past=true: results');

$r = search('limit=50');
$j = obj($r->{json});
is($j->{count}, 50, 'default search: upcoming sessions');
is_deeply([grep { $_->{conference} ne 'community-developer-connect-2027' }
           @{ arr($j->{sessions}) }], [],
          'default search: only the upcoming conference');


# ---- service sessions

my @svc = split /\n/, $t->psql(<<'SQL');
SELECT s.id FROM confhaven.sessions s
  JOIN confhaven.conferences c ON c.id = s.conference_id
 WHERE c.slug = 'qa-or-the-highway-2026' AND s.is_service ORDER BY s.id
SQL
is(scalar @svc, 8, 'qa or the highway has 8 service sessions');
my %svc = map { $_ => 1 } @svc;

$r = search('conference=qa-or-the-highway-2026&include_past=true&limit=50');
$j = obj($r->{json});
is($j->{count}, 38, 'qa or the highway: 38 searchable sessions');
is_deeply([grep { $svc{$_->{id}} } @{ arr($j->{sessions}) }], [],
          'service sessions never listed');

$r = search('q=lunch&conference=qa-or-the-highway-2026&include_past=true');
is_deeply([grep { $svc{$_->{id}} || $_->{title} =~ /^lunch$/i }
           @{ arr(obj($r->{json})->{sessions}) }], [],
          'q=lunch: the Lunch service session is not found');
$r = search('q=Break&include_past=true&limit=50');
is_deeply([grep { $svc{$_->{id}} } @{ arr(obj($r->{json})->{sessions}) }], [],
          'q=Break: no service session');

$r = $t->get_json("/api/sessions/$svc[0]");
is($r->{status}, 200, 'GET a service session by id: 200');
ok(JSON::PP::is_bool(obj($r->{json})->{is_service})
   && obj($r->{json})->{is_service}, 'service session: is_service true');


# ---- GET /api/sessions/{id}

$r = search("q=Agent+Builder+vs+Copilot+Studio&$SS");
my $hit = obj(arr(obj($r->{json})->{sessions})->[0]);
is($hit->{external_id}, '1222843', 'found Agent Builder vs Copilot Studio');

$r = $t->get_json("/api/sessions/$hit->{id}");
is($r->{status}, 200, 'session: status');
my $full = obj($r->{json});
is_deeply([grep { !exists $full->{$_} }
           qw(id external_id conference title speakers start end timezone
              room track level tags abstract level_detail format language
              is_service conference_name speakers_detail)], [],
          'session: full fields');
ok(!exists $full->{snippet} && !exists $full->{score},
   'session: no snippet or score');
is_deeply([@$full{qw(id external_id title start end timezone room track level)}],
          [@$hit{qw(id external_id title start end timezone room track level)}],
          'session: same values as the search result');
is($full->{conference_name}, 'Scottish Summit 2026', 'session: conference_name');
is_deeply($full->{speakers}, ['Sebastian Sieber'], 'session: speakers');
is($full->{level_detail}, '200 - Intermediate', 'session: level_detail');
ok(JSON::PP::is_bool($full->{is_service}) && !$full->{is_service},
   'session: is_service false');
like($full->{abstract} // '', qr/Agent Builder/, 'session: abstract');
ok(length($full->{abstract} // '') >= length($hit->{snippet} // '') - 1,
   'session: abstract is the full text');
is(obj(arr($full->{speakers_detail})->[0])->{name}, 'Sebastian Sieber',
   'session: speakers_detail');

$r = $t->get_json("/api/sessions/$uuid->{id}");
is(obj($r->{json})->{start}, '2024-11-22T09:20:00+11:00',
   'session: pycon au start keeps +11:00');

$r = $t->get_json('/api/sessions/999999999');
is($r->{status}, 404, 'unknown session id: 404');
is(err($r)->{code}, 'not_found', 'unknown session id: code');
like(err($r)->{message} // '', qr/999999999/, 'unknown session id: message');


# ------------------------------------------------------------------ helpers

sub search { return $t->get_json("/api/sessions?$_[0]") }

sub epoch {
    my ($iso) = @_;
    my ($y, $mo, $d, $h, $mi, $s, $sg, $oh, $om) = ($iso // '') =~
        /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)([+-])(\d\d):(\d\d)$/
        or return -1;
    require Time::Local;
    my $t = Time::Local::timegm($s, $mi, $h, $d, $mo - 1, $y);
    my $off = ($oh * 60 + $om) * 60;
    return $sg eq '+' ? $t - $off : $t + $off;
}

sub read_samples {
    my ($file) = @_;
    open(my $fh, '<:encoding(UTF-8)', $file) or die "$file: $!\n";
    my $head = <$fh>;
    chomp $head;
    my @cols = split /\t/, $head;
    my @rows;
    while (my $l = <$fh>) {
        chomp $l;
        next if $l eq '';
        my %row;
        @row{@cols} = split /\t/, $l, -1;
        $row{$_} = undef for grep { defined $row{$_} && $row{$_} eq '' } keys %row;
        push @rows, \%row;
    }
    return @rows;
}

sub obj { ref $_[0] eq 'HASH' ? $_[0] : {} }
sub arr { ref $_[0] eq 'ARRAY' ? $_[0] : [] }
sub err { my ($r) = @_; return obj(obj($r->{json})->{error}) }
