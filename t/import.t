#!/usr/bin/perl

# POST /api/admin/conferences/{slug}/import → confhaven.import_schedule():
# every bundled sample (sql/samples/samples.tsv) imports through HTTP with
# the detected format, the right session totals and the `make import`
# metadata; values the file carries may be left out; re-imports are
# idempotent (ids stable, no row growth); a modified file deletes/updates;
# Sessionize categories map to track/level/format; broken files are 422
# and leave the previous data untouched; bad slug / zone / missing zone are
# 400; every schedule of the shared folder (FOSDEM 2025 included) imports.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use Time::HiRes qw(time);

use ConfHaven::Test;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->plan(36);

$t->db();
$t->write_conf(<<'EOF');
http {
    confhaven_pg_server "%%DSN%%";
    confhaven_pg_statement_timeout 120s;

    server {
        listen 127.0.0.1:%%PORT_8080%%;

        error_page 400 404 405 413 414 500 502 503 504 /.confhaven-error;

        location /api/admin/ {
            confhaven_rest on;
            confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
            client_max_body_size 32m;
            client_body_buffer_size 32m;
        }

        location / {
            confhaven_rest on;
        }

        location = /.confhaven-error {
            internal;
            confhaven_json_errors on;
        }
    }

    # default client_body_buffer_size: big uploads spill to a temp file
    server {
        listen 127.0.0.1:%%PORT_8081%%;

        location / {
            confhaven_rest on;
            confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
            client_max_body_size 32m;
        }
    }
}
EOF
$t->run();

my $JSON = JSON::PP->new->utf8->canonical;
my $samples = $t->samples_dir;

# ------------------------------------------------------------ helpers

sub err { my ($r) = @_; ref $r->{json} eq 'HASH' && ref $r->{json}{error} eq 'HASH'
                        ? $r->{json}{error} : {} }

sub why { my ($r) = @_; diag('status ' . ($r->{status} // 'none') . ': '
                             . substr($r->{body} // '', 0, 600)) }

sub q_ { my ($s) = @_; $s =~ s/'/''/g; return "'$s'" }

# "count:md5 of id|external_id|title" of one conference's sessions
sub fingerprint {
    my ($slug) = @_;
    return $t->psql('SELECT count(s.id) || \':\' || coalesce(md5(string_agg('
        . "s.id || '|' || s.external_id || '|' || s.title, ',' ORDER BY s.id)), '-')"
        . ' FROM confhaven.conferences c LEFT JOIN confhaven.sessions s'
        . ' ON s.conference_id = c.id WHERE c.slug = ' . q_($slug));
}

# external_id => id
sub ids {
    my ($slug) = @_;
    my %ids = map { split /\|/, $_, 2 } grep { length } split /\n/,
        $t->psql('SELECT s.external_id || \'|\' || s.id FROM confhaven.sessions s'
                 . ' JOIN confhaven.conferences c ON c.id = s.conference_id'
                 . ' WHERE c.slug = ' . q_($slug));
    return \%ids;
}

sub session_count {
    my ($slug) = @_;
    return $t->psql('SELECT count(*) FROM confhaven.sessions s JOIN confhaven.conferences c'
                    . ' ON c.id = s.conference_id WHERE c.slug = ' . q_($slug));
}

# row counts of every table an import writes
sub table_counts {
    return $t->psql(join ' || \' \' || ', 'SELECT \'\'',
        map { "'$_=' || (SELECT count(*) FROM confhaven.$_)" }
        qw(conferences sessions speakers session_speakers tags session_tags rooms tracks));
}

sub slurp {
    my ($path) = @_;
    open(my $fh, '<:raw', $path) or die "$path: $!\n";
    local $/;
    return scalar <$fh>;
}

# POST raw bytes as an import
sub import_body {
    my ($slug, $body, %p) = @_;
    my $f = $t->write_file("body-$slug-" . int(rand 1e9), $body);
    my $r = $t->import_file($slug, $f, %p);
    unlink $f;
    return $r;
}

sub conf_row {
    my ($slug) = @_;
    my $row = $t->psql('SELECT name, timezone, coalesce(location, \'<null>\'),'
                       . ' coalesce(website, \'<null>\'), source_format'
                       . ' FROM confhaven.conferences WHERE slug = ' . q_($slug));
    $row = '' unless defined $row;
    utf8::decode($row);
    return [split /\|/, $row, -1];
}

# samples.tsv
my @samples;
{
    open(my $fh, '<:encoding(UTF-8)', "$samples/samples.tsv") or die "samples.tsv: $!\n";
    my $head = <$fh>;
    while (my $l = <$fh>) {
        chomp $l;
        next unless $l =~ /\S/;
        my %row;
        @row{qw(file slug name timezone location website)} = split /\t/, $l, -1;
        push @samples, \%row;
    }
}

my %expect = (
    'scottish-summit-2026'             => ['sessionize', 61, 0],
    'qa-or-the-highway-2026'           => ['sessionize', 46, 8],
    'global-azure-linz-2024'           => ['sessionize', 15, undef],
    'pycon-au-2024'                    => ['pretalx', 57, 0],
    '31c3'                             => ['frab-xml', 138, 0],
    'community-developer-connect-2027' => ['sessionize', 120, undef],
);

# ------------------------------------------------------- authorisation

{
    my $r = $t->import_file('auth-check', 'sessionize-all_global-azure-linz-2024.json',
                            timezone => 'Europe/Vienna', name => 'x', key => undef);
    is($r->{status}, 401, 'import without the admin key is 401');
}

# ------------------------------------------ 1. every bundled sample (6)

is(scalar @samples, 6, 'samples.tsv lists 6 schedules');

for my $s (@samples) {
    subtest "sample $s->{slug} ($s->{file})" => sub {
        my $e = $expect{$s->{slug}} or do { plan(skip_all => 'no expectation'); return };
        plan(tests => 14);

        my %p = map { $_ => $s->{$_} } grep { $s->{$_} ne '' }
                qw(name timezone location website);
        my $r = $t->import_file($s->{slug}, $s->{file}, %p, timeout => 60);

        is($r->{status}, 200, 'status 200') or why($r);
        my $j = ref $r->{json} eq 'HASH' ? $r->{json} : {};
        is($j->{format}, $e->[0], "format $e->[0]");
        is($j->{sessions}{total}, $e->[1], "total $e->[1]");
        is($j->{sessions}{inserted}, $e->[1], 'all inserted');
        is($j->{sessions}{updated}, 0, 'none updated');
        is($j->{sessions}{deleted}, 0, 'none deleted');
        SKIP: {
            skip('service count not documented', 1) unless defined $e->[2];
            is($j->{sessions}{service}, $e->[2], "service $e->[2]");
        }
        is(session_count($s->{slug}), $e->[1], 'sessions in the database');

        my $c = $j->{conference} // {};
        is($c->{slug}, $s->{slug}, 'response conference slug');
        is($c->{name}, $s->{name}, 'response conference name');
        is($c->{timezone}, $s->{timezone}, 'response conference timezone');
        # session_count counts what a search can return: service sessions excluded
        is($c->{session_count}, $e->[1] - ($j->{sessions}{service} // 0),
           'response session_count (total minus service sessions)');

        is_deeply(conf_row($s->{slug}),
                  [$s->{name}, $s->{timezone},
                   $s->{location} eq '' ? '<null>' : $s->{location},
                   $s->{website} eq '' ? '<null>' : $s->{website}, $e->[0]],
                  'stored name, timezone, location, website, format');

        my $g = $t->get_json("/api/conferences/$s->{slug}");
        is($g->{status} == 200 && ref $g->{json} eq 'HASH'
           ? $g->{json}{location} : $g->{status},
           $s->{location} eq '' ? undef : $s->{location},
           'GET /api/conferences/{slug} shows the location');
    };
}

# ---------------------------- 2. values the file carries may be omitted

subtest 'pretalx without parameters takes name and zone from the file' => sub {
    plan(tests => 6);
    my $r = $t->import_file('pycon-bare', 'pretalx_pycon-au-2024.schedule.json',
                            timeout => 60);
    is($r->{status}, 200, 'status 200') or why($r);
    my $c = ref $r->{json} eq 'HASH' ? $r->{json}{conference} // {} : {};
    is($c->{name}, 'PyCon AU 2024', 'name from schedule.conference.title');
    is($c->{timezone}, 'Australia/Melbourne', 'zone from time_zone_name');
    is($c->{start_date}, '2024-11-22', 'start date from the file');
    is($c->{end_date}, '2024-11-24', 'end date from the file');
    is(session_count('pycon-bare'), 57, '57 sessions');
};

subtest '31C3 XML has no zone name: timezone is required, with a clear message' => sub {
    plan(tests => 9);
    my $r = $t->import_file('31c3-bare', 'frab-xml_31c3-2014.schedule.xml');
    is($r->{status}, 400, 'without timezone: 400') or why($r);
    like(err($r)->{message} // '', qr/time zone/i, 'message says a time zone is needed')
        or why($r);
    like(err($r)->{hint} // '', qr/timezone=/, 'hint tells to pass timezone=') or why($r);
    is(session_count('31c3-bare'), 0, 'nothing imported');
    is($t->psql(q{SELECT count(*) FROM confhaven.conferences WHERE slug = '31c3-bare'}), 0,
       'no conference row created');

    $r = $t->import_file('31c3-bare', 'frab-xml_31c3-2014.schedule.xml',
                         timezone => 'Europe/Berlin');
    is($r->{status}, 200, 'with timezone only: 200') or why($r);
    my $c = ref $r->{json} eq 'HASH' ? $r->{json}{conference} // {} : {};
    is($c->{name}, '31. Chaos Communication Congress', 'name from <conference><title>');
    is($c->{timezone}, 'Europe/Berlin', 'zone from the parameter');
    is($r->{json}{sessions}{total}, 138, '138 events');
};

subtest 'Sessionize: new conference needs a name; re-import keeps the metadata' => sub {
    plan(tests => 8);
    my $r = $t->import_file('linz-noname', 'sessionize-all_global-azure-linz-2024.json',
                            timezone => 'Europe/Vienna');
    is($r->{status}, 400, 'no name for a new Sessionize conference: 400') or why($r);
    like(err($r)->{message} // '', qr/name/, 'message asks for a name');

    # re-import of an existing conference with no parameters at all
    my $before = conf_row('scottish-summit-2026');
    $r = $t->import_file('scottish-summit-2026', 'sessionize-all_scottish-summit-2026.json');
    is($r->{status}, 200, 'parameterless re-import of an existing Sessionize conference')
        or why($r);
    is_deeply(conf_row('scottish-summit-2026'), $before,
              'name, timezone, location, website kept');

    # a new parameter replaces just that value
    $r = $t->import_file('scottish-summit-2026', 'sessionize-all_scottish-summit-2026.json',
                         location => 'Glasgow, Scotland');
    is($r->{status}, 200, 're-import with location only') or why($r);
    is(conf_row('scottish-summit-2026')->[2], 'Glasgow, Scotland', 'location updated');
    is(conf_row('scottish-summit-2026')->[0], 'Scottish Summit 2026', 'name kept');
    # restore
    $r = $t->import_file('scottish-summit-2026', 'sessionize-all_scottish-summit-2026.json',
                         location => 'Scotland, United Kingdom');
    is($r->{status}, 200, 'location restored') or why($r);
};

# ------------------------------------------------------ 3. idempotence

for my $s (grep { $_->{slug} =~ /^(?:scottish-summit-2026|pycon-au-2024|31c3)$/ } @samples) {
    subtest "re-importing $s->{slug} is idempotent" => sub {
        plan(tests => 8);
        my $n = $expect{$s->{slug}}[1];
        my $ids = ids($s->{slug});
        my $counts = table_counts();
        my %p = map { $_ => $s->{$_} } grep { $s->{$_} ne '' }
                qw(name timezone location website);

        for my $round (1, 2) {
            my $r = $t->import_file($s->{slug}, $s->{file}, %p, timeout => 60);
            is($r->{status}, 200, "round $round: status 200") or why($r);
            my $c = ref $r->{json} eq 'HASH' ? $r->{json}{sessions} // {} : {};
            is_deeply([@$c{qw(total inserted updated deleted)}], [$n, 0, $n, 0],
                      "round $round: total $n, inserted 0, updated $n, deleted 0");
        }
        is(scalar keys %$ids, $n, "$n sessions before");
        is_deeply(ids($s->{slug}), $ids, 'session ids unchanged');
        is(table_counts(), $counts, 'no table grew') or diag(table_counts());
        is($t->psql('SELECT count(*) FROM (SELECT conference_id, external_id FROM'
                    . ' confhaven.sessions GROUP BY 1, 2 HAVING count(*) > 1) d'), 0,
           'no duplicate (conference, external_id)');
    };
}

# ------------------------------------------------- 4. a modified file

subtest 'modified Sessionize file: 2 sessions dropped, a title changed' => sub {
    plan(tests => 12);
    my $slug = 'scottish-modified';
    my %p = (name => 'Scottish Summit 2026 (copy)', timezone => 'Europe/London');
    my $orig = slurp("$samples/sessionize-all_scottish-summit-2026.json");

    my $r = import_body($slug, $orig, %p);
    is($r->{status}, 200, 'original imported') or why($r);
    my $ids = ids($slug);
    is(scalar keys %$ids, 61, '61 sessions');

    my $doc = $JSON->decode($orig);
    my @gone = map { $_->{id} } splice(@{$doc->{sessions}}, 5, 2);
    my $changed = $doc->{sessions}[10];
    my $new_title = 'Renamed by t/import.t: ' . $changed->{title};
    $new_title =~ s/\s+$//;
    $changed->{title} = $new_title;

    $r = import_body($slug, $JSON->encode($doc));
    is($r->{status}, 200, 'modified file imported') or why($r);
    my $c = ref $r->{json} eq 'HASH' ? $r->{json}{sessions} // {} : {};
    is($c->{deleted}, 2, 'deleted 2');
    is($c->{inserted}, 0, 'inserted 0');
    is($c->{updated}, 59, 'updated 59');
    is($c->{total}, 59, 'total 59');
    is(session_count($slug), 59, '59 sessions in the database');

    my $now = ids($slug);
    ok(!grep({ exists $now->{$_} } @gone), 'dropped sessions are gone');
    my %keep = map { $_ => $ids->{$_} } grep { exists $now->{$_} } keys %$ids;
    is_deeply($now, \%keep, 'ids of the remaining sessions unchanged');

    my $id = $now->{$changed->{id}} // 0;
    my $g = $t->get_json("/api/sessions/$id");
    is($g->{status} == 200 && ref $g->{json} eq 'HASH' ? $g->{json}{title} : $g->{status},
       $new_title, 'changed title served by /api/sessions/{id}');

    # back to the original: the 2 come back as new rows
    $r = import_body($slug, $orig);
    $c = ref $r->{json} eq 'HASH' ? $r->{json}{sessions} // {} : {};
    is_deeply([@$c{qw(total inserted updated deleted)}], [61, 2, 59, 0],
              'original again: inserted 2, updated 59') or why($r);
};

# --------------------------------------------- 5. Sessionize categories

subtest 'Scottish Summit categories → track, level, level_detail, format' => sub {
    plan(tests => 8);
    my $doc = $JSON->decode(slurp("$samples/sessionize-all_scottish-summit-2026.json"));
    my (%role, %name);
    for my $cat (@{$doc->{categories}}) {
        my $role = $cat->{title} eq 'Which track does your session best fit into?' ? 'track'
                 : $cat->{title} eq 'What level is your session aimed at?' ? 'level'
                 : $cat->{title} eq 'Please select session type:' ? 'format' : next;
        for (@{$cat->{items}}) { $role{$_->{id}} = $role; $name{$_->{id}} = $_->{name} }
    }
    my %lv = (100 => 'Introductory', 200 => 'Intermediate', 300 => 'Advanced',
              400 => 'Advanced');

    my (%want, %seen_level);
    for my $s (@{$doc->{sessions}}) {
        my %w = (track => '', level => '', level_detail => '', format => '');
        for my $it (@{$s->{categoryItems}}) {
            my $r = $role{$it} or next;
            if ($r eq 'level') {
                $w{level_detail} = $name{$it};
                my ($n) = $name{$it} =~ /^(\d00)/;
                $w{level} = $lv{$n};
                $seen_level{$n}++;
            } elsif ($w{$r} eq '') {
                $w{$r} = $name{$it};
            }
        }
        $want{$s->{id}} = join '|', @w{qw(track level level_detail format)};
    }

    my $rows = $t->psql(q{SELECT s.external_id || '#' || concat_ws('|',
            coalesce(t.name, ''), coalesce(s.level, ''), coalesce(s.level_detail, ''),
            coalesce(s.format, ''))
        FROM confhaven.sessions s JOIN confhaven.conferences c ON c.id = s.conference_id
        LEFT JOIN confhaven.tracks t ON t.id = s.track_id
        WHERE c.slug = 'scottish-summit-2026'});
    utf8::decode($rows);
    my %got = map { split /#/, $_, 2 } split /\n/, $rows;
    is_deeply(\%got, \%want, 'every session: track, level, level_detail, format');
    is(join(',', sort keys %seen_level), '100,200,300', 'the file uses levels 100, 200, 300');

    # one session through the API
    my ($ext) = grep { $want{$_} =~ /^[^|]+\|Intermediate\|/ } sort keys %want;
    my $g = $t->get_json('/api/sessions/' . (ids('scottish-summit-2026')->{$ext // ''} // 0));
    my $j = ref $g->{json} eq 'HASH' ? $g->{json} : {};
    is($g->{status}, 200, 'GET /api/sessions/{id}');
    is($j->{level}, 'Intermediate', 'API level Intermediate');
    is($j->{level_detail}, '200 - Intermediate', 'API level_detail keeps the raw text');
    is($j->{track}, (split /\|/, $want{$ext // ''} // '')[0], 'API track');

    # the file uses no "400 - Expert": switch one session to it in a copy
    my ($item400) = grep { $name{$_} =~ /^400\b/ } keys %name;
    my $s0 = $doc->{sessions}[0];
    $s0->{categoryItems} = [(grep { ($role{$_} // '') ne 'level' } @{$s0->{categoryItems}}),
                            $item400 + 0];
    my $r = import_body('scottish-level400', $JSON->encode($doc),
                        name => 'Scottish Summit 400', timezone => 'Europe/London');
    is($r->{status}, 200, 'copy with a 400-level session imported') or why($r);
    is($t->psql(q{SELECT s.level || '|' || s.level_detail FROM confhaven.sessions s
                  JOIN confhaven.conferences c ON c.id = s.conference_id
                  WHERE c.slug = 'scottish-level400' AND s.external_id = } . q_($s0->{id})),
       'Advanced|400 - Expert', '"400 - Expert" → Advanced, level_detail raw');
};

subtest 'Orlando Code Camp 2020 categories (shared data)' => sub {
    my $dir = $t->shared_dir;
    my $file = defined $dir ? "$dir/sessionize-all_orlando-code-camp-2020.json" : '';
    plan(skip_all => 'no shared data (TEST_CONFHAVEN_SHARED)') unless -f $file;
    plan(tests => 6);

    my $r = $t->import_file('orlando-code-camp-2020', $file, timeout => 60,
                            name => 'Orlando Code Camp 2020', timezone => 'America/New_York');
    is($r->{status}, 200, 'imported') or why($r);
    is($r->{json}{sessions}{total}, 99, '99 sessions');
    is($r->{json}{sessions}{service}, 12, '12 service sessions');

    my $doc = $JSON->decode(slurp($file));
    my (%role, %name);
    for my $cat (@{$doc->{categories}}) {
        my $role = { 'Session format' => 'format', 'Level' => 'level',
                     'Category' => 'track' }->{$cat->{title}} or next;
        for (@{$cat->{items}}) { $role{$_->{id}} = $role; $name{$_->{id}} = $_->{name} }
    }
    my %lv = ('Introductory and overview' => 'Introductory', 'Intermediate' => 'Intermediate',
              'Expert' => 'Advanced');
    my %want;
    for my $s (@{$doc->{sessions}}) {
        my %w = (track => '', level => '', level_detail => '', format => '');
        for my $it (@{$s->{categoryItems}}) {
            my $ro = $role{$it} or next;
            if ($ro eq 'level') {
                $w{level_detail} = $name{$it};
                $w{level} = $lv{$name{$it}} // "?$name{$it}";
            } elsif ($w{$ro} eq '') {
                $w{$ro} = $name{$it};
            }
        }
        $want{$s->{id}} = join '|', @w{qw(track level level_detail format)};
    }
    my $rows = $t->psql(q{SELECT s.external_id || '#' || concat_ws('|',
            coalesce(t.name, ''), coalesce(s.level, ''), coalesce(s.level_detail, ''),
            coalesce(s.format, ''))
        FROM confhaven.sessions s JOIN confhaven.conferences c ON c.id = s.conference_id
        LEFT JOIN confhaven.tracks t ON t.id = s.track_id
        WHERE c.slug = 'orlando-code-camp-2020'});
    utf8::decode($rows);
    my %got = map { split /#/, $_, 2 } split /\n/, $rows;
    is_deeply(\%got, \%want, 'every session: track (Category), level, level_detail, format');
    my %levels = map { (split /\|/)[1] => 1 } grep { (split /\|/)[1] } values %got;
    is_deeply([sort keys %levels], [qw(Intermediate Introductory)],
              'levels used by the file: Introductory, Intermediate');
    is($t->psql(q{SELECT count(*) FROM confhaven.sessions s JOIN confhaven.conferences c
                  ON c.id = s.conference_id WHERE c.slug = 'orlando-code-camp-2020'
                  AND s.is_service}), 12, '12 service sessions stored');
};

# ------------------------------------------------- 6. broken files → 422

{
    my $slug = 'scottish-summit-2026';
    my $orig = slurp("$samples/sessionize-all_scottish-summit-2026.json");
    my $fp = fingerprint($slug);

    my @cases = (
        ['truncated JSON', substr($orig, 0, int(length($orig) / 2)),
         qr/not valid JSON/],
        ['sessions[3].startsAt is "abc"', do {
            my $d = $JSON->decode($orig); $d->{sessions}[3]{startsAt} = 'abc'; $JSON->encode($d) },
         qr/sessions\[3\]\.startsAt is not a date-time: "abc"/],
        ['sessions[7] without title', do {
            my $d = $JSON->decode($orig); delete $d->{sessions}[7]{title}; $JSON->encode($d) },
         qr/sessions\[7\]\.title is missing/],
        ['sessions[8] with an empty title', do {
            my $d = $JSON->decode($orig); $d->{sessions}[8]{title} = '  '; $JSON->encode($d) },
         qr/sessions\[8\]\.title is empty/],
        ['JSON that is no schedule', '{"hello": "world"}',
         qr/unrecognised schedule format/],
    );

    for my $c (@cases) {
        my ($what, $body, $re) = @$c;
        subtest "broken Sessionize file ($what) is 422, data untouched" => sub {
            plan(tests => 4);
            my $r = import_body($slug, $body);
            is($r->{status}, 422, 'status 422') or why($r);
            is(err($r)->{code}, 'invalid_schedule', 'error code invalid_schedule');
            like(err($r)->{message} // '', $re, 'message names the problem') or why($r);
            is(fingerprint($slug), $fp, 'same sessions (count, ids, titles) as before');
        };
    }

    my $xml = slurp("$samples/frab-xml_31c3-2014.schedule.xml");
    my $fx = fingerprint('31c3');
    subtest 'XML missing a closing tag is 422, data untouched' => sub {
        plan(tests => 8);
        (my $bad = $xml) =~ s{</schedule>\s*\z}{};
        my $r = import_body('31c3', $bad);
        is($r->{status}, 422, 'without </schedule>: 422') or why($r);
        like(err($r)->{message} // '', qr/not well-formed XML/, 'message: not well-formed XML')
            or why($r);
        is(fingerprint('31c3'), $fx, '31c3 sessions untouched');

        ($bad = $xml) =~ s{</title>}{};        # first </title> (conference title)
        $r = import_body('31c3', $bad);
        is($r->{status}, 422, 'without a </title>: 422') or why($r);
        like(err($r)->{message} // '', qr/not well-formed XML/, 'message: not well-formed XML')
            or why($r);
        is(fingerprint('31c3'), $fx, '31c3 sessions untouched');

        ($bad = $xml) =~ s{(<event [^>]*>.*?)<title>[^<]*</title>}{$1}s;
        $r = import_body('31c3', $bad);
        is($r->{status}, 422, 'an event without <title>: 422') or why($r);
        like(err($r)->{message} // '', qr/<title> is missing/, 'message names <title>')
            or why($r);
    };
}

# ------------------------------------------ 7. bad parameters → 400

{
    my $r = $t->import_file('Bad_Slug!', 'sessionize-all_global-azure-linz-2024.json',
                            name => 'Bad', timezone => 'Europe/Vienna');
    is($r->{status}, 400, 'slug Bad_Slug! is 400');
    like(err($r)->{message} // '', qr/slug/i, 'message mentions the slug') or why($r);

    $r = $t->import_file('mars-2030', 'sessionize-all_global-azure-linz-2024.json',
                         name => 'Mars', timezone => 'Mars/Olympus');
    is($r->{status}, 400, 'timezone Mars/Olympus is 400');
    like(err($r)->{message} // '', qr/"Mars\/Olympus" is not a valid IANA time zone/,
         'message names the zone') or why($r);

    $r = $t->import_file('linz-no-zone', 'sessionize-all_global-azure-linz-2024.json',
                         name => 'Global Azure 2024 Linz');
    is($r->{status}, 400, 'Sessionize without timezone for a new conference is 400');
    like((err($r)->{message} // '') . ' ' . (err($r)->{hint} // ''), qr/timezone=/,
         'error tells to pass timezone=') or why($r);
    # the website is shown as a link: only http(s) addresses
    $r = $t->import_file('linz-js', 'sessionize-all_global-azure-linz-2024.json',
                         name => 'Linz', timezone => 'Europe/Vienna',
                         website => 'javascript:alert(1)');
    is($r->{status}, 400, 'website=javascript:... is 400') or why($r);
    like(err($r)->{message} // '', qr/not an http:\/\/ or https:\/\/ address/,
         'message says what a website must be') or why($r);

    is($t->psql(q{SELECT count(*) FROM confhaven.conferences
                  WHERE slug IN ('mars-2030', 'linz-no-zone', 'linz-js')}), 0,
       'no conference rows left behind by rejected imports');
}

# ------------------------------------------------------ 8. odds and ends

{
    # contract: a leading BOM is skipped
    my $r = import_body('linz-bom',
        "\xEF\xBB\xBF" . slurp("$samples/sessionize-all_global-azure-linz-2024.json"),
        name => 'Global Azure 2024 Linz', timezone => 'Europe/Vienna');
    is($r->{status} == 200 ? "$r->{json}{format} $r->{json}{sessions}{total}" : $r->{status},
       'sessionize 15', 'a file with a UTF-8 BOM imports') or why($r);

    # a body larger than client_body_buffer_size is read back from the temp file
    $r = $t->import_file('scottish-spilled', 'sessionize-all_scottish-summit-2026.json',
                         port => 8081, name => 'Scottish Summit 2026',
                         timezone => 'Europe/London');
    is($r->{status} == 200 ? $r->{json}{sessions}{total} : $r->{status}, 61,
       'a 243k body spilled to a temp file (16k buffer) imports') or why($r);

    # is_valid_timezone (sql/functions/10_util.sql) says abbreviations such
    # as "EST" are rejected: they are fixed offsets (EST is UTC-5 all year,
    # no DST), a trap for New York
    $r = $t->import_file('linz-est', 'sessionize-all_global-azure-linz-2024.json',
                         name => 'Linz EST', timezone => 'EST');
    is($r->{status}, 400, 'timezone=EST (an abbreviation, not Area/City) is 400')
        or why($r);
}

# ------------------------------------------ 9. the shared folder

subtest 'every schedule of the shared folder imports' => sub {
    my $dir = $t->shared_dir;
    plan(skip_all => 'no shared data: TEST_CONFHAVEN_SHARED not set')
        unless defined $dir && -d $dir;

    my $readme = slurp("$dir/README.md");
    utf8::decode($readme);
    my %info;
    for my $l (split /\n/, $readme) {
        next unless $l =~ /^\|\s*`([^`]+)`\s*\|([^|]*)\|([^|]*)\|\s*\*\*(\d+)\*\*[^|]*\|([^|]*)\|/;
        my ($file, $name, $fmt, $n, $zone) = ($1, $2, $3, $4, $5);
        s/^\s+|\s+$//g for $name, $fmt, $zone;
        $name =~ s/\s*\(.*//;
        my ($tz) = $zone =~ m{\b([A-Z][A-Za-z]+/[A-Za-z_]+)};
        $info{$file} = { name => $name, format => $fmt, total => $n, tz => $tz,
                         in_file => $zone =~ /is in the file/ ? 1 : 0 };
    }
    my @files = sort grep { -f "$dir/$_" && /\.(?:json|xml)$/ }
                do { opendir(my $dh, $dir) or die "$dir: $!"; readdir $dh };

    plan(tests => 1 + @files);
    is_deeply([sort keys %info], \@files, 'README.md describes every schedule file');

    for my $file (@files) {
        subtest $file => sub {
            my $i = $info{$file} or do { plan(skip_all => 'not in README.md'); return };
            plan(tests => 4);
            (my $slug = "shared-$file") =~ s/^shared-[a-z-]+_/shared-/;
            $slug =~ s/\.(?:schedule\.)?(?:json|xml)$//;
            my %p = $i->{in_file} ? () : (name => $i->{name}, timezone => $i->{tz});
            my $t0 = time;
            my $r = $t->import_file($slug, "$dir/$file", %p, timeout => 180);
            my $dt = time - $t0;
            diag(sprintf('%s: %d sessions imported in %.2fs', $file,
                         $r->{json}{sessions}{total} // -1, $dt))
                if $file =~ /fosdem/ || $ENV{TEST_CONFHAVEN_VERBOSE};
            is($r->{status}, 200, "status 200 ($slug)") or why($r);
            is($r->{json}{format}, $i->{format} eq 'sessionize-all' ? 'sessionize'
                                   : $i->{format}, 'format') or why($r);
            is($r->{json}{sessions}{total}, $i->{total}, "total $i->{total}");
            is(session_count($slug), $i->{total}, "$i->{total} sessions in the database");
        };
    }
};


