#!/usr/bin/perl

# GET /api/sessions filters, paging and facets (sql/functions/50_search.sql):
# speaker (case/accent-insensitive part of a name), room (exact name first,
# else part of it), day (a date; today/tomorrow in each conference's own
# time zone), starts_after/starts_before (instants with offsets, local
# date-times, local HH:MM), language, combinations; offset and cursor
# paging without duplicates or gaps; facet counts adding up to total; bad
# values answered with 400 naming the parameter.
#
# Two generated conferences sit on either side of the date line
# (Pacific/Kiritimati UTC+14, Pacific/Pago_Pago UTC-11: their local dates
# always differ), with sessions on the day before, the day of, and the two
# days after their own local today.

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;

use ConfHaven::Test;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg();

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

my $r = $t->import_file('scottish-summit-2026',
                        'sessionize-all_scottish-summit-2026.json',
                        name => 'Scottish Summit 2026', timezone => 'Europe/London');
is($r->{status}, 200, 'import scottish-summit-2026');
$r = $t->import_file('31c3', 'frab-xml_31c3-2014.schedule.xml', timezone => 'Europe/Berlin');
is($r->{status}, 200, 'import 31c3');

my %zone = (east => 'Pacific/Kiritimati', west => 'Pacific/Pago_Pago');
my %today;      # local "today" of each generated conference, per PostgreSQL
for my $k (sort keys %zone) {
    my ($d0, $dm1, $d1, $d2) = split /\|/, $t->psql(
        "SELECT (now() AT TIME ZONE '$zone{$k}')::date, (now() AT TIME ZONE '$zone{$k}')::date - 1, "
        . "(now() AT TIME ZONE '$zone{$k}')::date + 1, (now() AT TIME ZONE '$zone{$k}')::date + 2");
    $today{$k} = { today => $d0, yesterday => $dm1, tomorrow => $d1, after => $d2 };
    my $file = $t->write_file("$k.json", schedule($k, $dm1, $d0, $d1, $d2));
    $r = $t->import_file("tz-$k", $file, name => "Zone Test \u$k", timezone => $zone{$k});
    is($r->{status}, 200, "import tz-$k ($zone{$k})") or diag($r->{body});
}
isnt($today{east}{today}, $today{west}{today}, 'the two zones have different local dates');

my $E = 'conference=tz-east&include_past=true';
my $W = 'conference=tz-west&include_past=true';


# ---- day

my $j = ok200("$E&day=today&limit=50", 'day=today (east)');
is($j->{total}, 4, 'day=today: the 4 sessions of local today');
is_deeply([grep { substr($_->{start}, 0, 10) ne $today{east}{today} } @{$j->{sessions}}], [],
          'day=today: all start on the local date of Kiritimati');
like($j->{sessions}[0]{start} // '', qr/\+14:00$/, 'times in the conference offset');
is($j->{query}{day}, 'today', 'day echoed');

$j = ok200("$W&day=tomorrow&limit=50", 'day=tomorrow (west)');
is($j->{total}, 4, 'day=tomorrow: 4 sessions');
is_deeply([grep { substr($_->{start}, 0, 10) ne $today{west}{tomorrow} } @{$j->{sessions}}], [],
          'day=tomorrow: local tomorrow of Pago Pago');

$j = ok200("q=zonetest&include_past=true&day=today&limit=50", 'day=today without conference');
is($j->{total}, 8, 'day=today across conferences: 4 + 4');
my %by = (east => [], west => []);
push @{$by{$_->{conference} eq 'tz-east' ? 'east' : 'west'}}, $_ for @{$j->{sessions}};
is_deeply([grep { substr($_->{start}, 0, 10) ne $today{east}{today} } @{$by{east}}], [],
          'no conference: east sessions on east local today');
is_deeply([grep { substr($_->{start}, 0, 10) ne $today{west}{today} } @{$by{west}}], [],
          'no conference: west sessions on west local today');

$j = ok200("$E&day=$today{east}{after}&limit=50", 'day=YYYY-MM-DD');
is($j->{total}, 4, 'day as a date: 4 sessions');
$j = ok200("$E&day=TOMORROW", 'day=TOMORROW (case)');
is($j->{total}, 4, 'day in upper case');

$j = ok200("conference=tz-east&day=yesterday", 'day=yesterday without include_past');
is($j->{total}, 0, 'yesterday\'s sessions have ended');
like($j->{suggestion} // '', qr/include_past=true/, 'the suggestion says how to find them');


# ---- time window

$j = ok200("$E&day=today&starts_after=11:00&starts_before=16:00", 'local HH:MM window');
is_deeply([map { substr($_->{start}, 11, 5) } @{$j->{sessions}}], ['11:00', '14:00'],
          'starts_after inclusive, starts_before exclusive');
$j = ok200("$E&starts_after=15:00&limit=50", 'HH:MM without a day');
is($j->{total}, 4, 'HH:MM without day: every day (16:00 on 4 days)');
my $abs = "$today{east}{tomorrow}T14:00:00%2B14:00";
$j = ok200("$E&starts_after=$abs&limit=50", 'instant with offset');
is($j->{total}, 6, 'from tomorrow 14:00 (+14:00) on: 2 + 4');
my $absz = "$today{east}{tomorrow}T00:00:00Z";     # = tomorrow 14:00 in Kiritimati
$j = ok200("$E&starts_after=$absz&limit=50", 'instant in Z');
is($j->{total}, 6, 'Z is the same instant');
$j = ok200("$E&starts_after=$today{east}{tomorrow}T14:00&limit=50", 'local date-time');
is($j->{total}, 6, 'local date-time in the conference zone');
$j = ok200("$E&starts_before=$today{east}{today}T09:00:00+14:00&limit=50",
           'unencoded + (arrives as a space)');
is($j->{total}, 4, 'before today 09:00: yesterday only');


# ---- speaker, room, language, combinations

$j = ok200("$E&speaker=jose+muller&limit=50", 'speaker without accents');
is($j->{total}, 4, 'speaker: José Müller gives the 09:00 sessions');
is_deeply([grep { !grep { $_ eq 'José Müller' } @{$_->{speakers}} } @{$j->{sessions}}], [],
          'speaker: only his sessions');
$j = ok200("$E&speaker=M%C3%9CLLER", 'speaker in capitals with accent');
is($j->{total}, 4, 'speaker: case-insensitive');
$j = ok200("speaker=SMI&include_past=true&q=zonetest&limit=50", 'speaker part of a name, no conference');
is($j->{total}, 24, 'speaker partial across conferences');
is($j->{query}{speaker}, 'SMI', 'speaker echoed as given');

$j = ok200("$E&room=hall+a&limit=50", 'room exact name');
is_deeply([sort keys %{{ map { $_->{room} => 1 } @{$j->{sessions}} }}], ['Hall A'],
          'room=hall a: Hall A only, not Hall AB');
$j = ok200("$E&room=hall&limit=50", 'room part of a name');
is($j->{total}, 16, 'room=hall: every room');
$j = ok200("$E&room=Nowhere", 'unknown room');
is($j->{total}, 0, 'unknown room: empty result');
like($j->{suggestion} // '', qr/leave out room/, 'unknown room: suggestion');

$j = ok200('conference=31c3&include_past=true&language=de&limit=50', 'language=de');
ok($j->{total} > 10, 'language=de: German talks at 31c3');
my $ids = join ',', map { $_->{id} } @{$j->{sessions}};
is($t->psql("SELECT count(*) FROM confhaven.sessions WHERE id IN ($ids) AND search_lang <> 'german'"), 0,
   'language=de: all German');
my $j2 = ok200('conference=31c3&include_past=true&language=Deutsch&limit=50', 'language=Deutsch');
is($j2->{total}, $j->{total}, 'Deutsch = de');
$j2 = ok200('conference=31c3&include_past=true&language=en&limit=50', 'language=en');
is($j2->{total} + $j->{total},
   ok200('conference=31c3&include_past=true', '31c3 all')->{total}, 'en + de = all of 31c3');

$j = ok200("$E&day=tomorrow&room=hall+b&speaker=smith&level=intermediate", 'combination');
ok(@{$j->{sessions}} >= 1, 'combination: something found');
is_deeply([grep { $_->{room} ne 'Hall B' || $_->{level} ne 'Intermediate'
                  || substr($_->{start}, 0, 10) ne $today{east}{tomorrow}
                  || !grep { /Smith/ } @{$_->{speakers}} } @{$j->{sessions}}], [],
          'combination: every filter holds');
$j = ok200('q=agents&conference=scottish-summit-2026&include_past=true&day=2026-10-03'
           . '&starts_after=12:00&speaker=a', 'q with filters');
ok($j->{total} > 0, 'q + day + time + speaker: results');
is_deeply([grep { $_->{start} !~ /^2026-10-03T(1[2-9]|2)/ } @{$j->{sessions}}], [],
          'q with filters: on that day from 12:00');


# ---- paging

for my $q ('conference=scottish-summit-2026&include_past=true',
           'q=azure&include_past=true', 'q=zonetest&include_past=true')
{
    my $first = ok200("$q&limit=7", "paging $q: first page");
    my $total = $first->{total};
    my (@seen, $pages);
    my $page = $first;
    while (1) {
        push @seen, map { $_->{id} } @{$page->{sessions}};
        $pages++;
        last unless defined $page->{next_cursor} && $pages < 50;
        $page = ok200("$q&cursor=$page->{next_cursor}", "paging $q: page $pages", 1);
    }
    my %u = map { $_ => 1 } @seen;
    is(scalar @seen, $total, "paging $q: $total sessions in $pages pages");
    is(scalar keys %u, $total, "paging $q: no duplicates");
    my @off;
    for (my $o = 0; $o < $total; $o += 7) {
        push @off, map { $_->{id} } @{ok200("$q&limit=7&offset=$o", "offset $o", 1)->{sessions}};
    }
    is_deeply(\@off, \@seen, "paging $q: offset pages = cursor pages");
}

$j = ok200('conference=scottish-summit-2026&include_past=true&limit=50', 'all scottish');
my $all = { map { $_->{id} => 1 } @{$j->{sessions}} };
$j2 = ok200("conference=scottish-summit-2026&include_past=true&cursor=$j->{next_cursor}", 'second page');
$all->{$_->{id}}++ for @{$j2->{sessions}};
is(scalar keys %$all, 61, 'limit 50 + next page: all 61 Scottish Summit sessions');
is($j2->{next_cursor}, undef, 'no next_cursor on the last page');
is($j2->{offset}, 50, 'offset of the second page');
is($j2->{query}{limit}, 50, 'the cursor keeps the limit');


# ---- facets

for my $q ('q=ai&include_past=true', "$E&day=today", 'conference=31c3&include_past=true&language=de') {
    $j = ok200("$q&limit=3", "facets $q");
    my $f = $j->{facets} // {};
    for my $d (qw(track level day)) {
        my $sum = 0;
        $sum += $_->{count} for @{$f->{$d} // []};
        is($sum, $j->{total}, "facets $q: $d counts add up to total ($j->{total})");
    }
}
$j = ok200("$E&day=today", 'facets for a day');
is_deeply($j->{facets}{day}, [{ value => $today{east}{today}, count => 4 }], 'day facet: one local day');
is_deeply([map { $_->{value} } @{$j->{facets}{level}}], [qw(Introductory Intermediate Advanced)],
          'level facet in level order');


# ---- bad values: 400 naming the parameter

for my $b (['day=someday', 'day'], ['day=2026-02-30', 'day'], ['day=2026-13-01', 'day'],
           ['starts_after=25:00', 'starts_after'], ['starts_before=noon', 'starts_before'],
           ['starts_after=2026-10-03T10:00%2B25:00', 'starts_after'],
           ['language=klingon', 'language'], ['offset=-1', 'offset'], ['offset=1001', 'offset'],
           ['offset=abc', 'offset'], ['cursor=zz', 'cursor'], ['cursor=00ff', 'cursor'],
           ['offset=5&cursor=' . ($j->{next_cursor} // 'x'), 'offset'])
{
    $r = $t->get_json("/api/sessions?$b->[0]");
    is($r->{status}, 400, "$b->[0]: 400");
    like(($r->{json}{error}{message} // '') . ' ' . ($r->{json}{error}{hint} // ''),
         qr/"\Q$b->[1]\E"/, "$b->[0]: the message names $b->[1]");
}
$j = ok200('conference=scottish-summit-2026&include_past=true&limit=5', 'a first page');
$r = $t->get_json("/api/sessions?conference=scottish-summit-2026&include_past=true&q=azure"
                  . "&cursor=$j->{next_cursor}");
is($r->{status}, 400, 'cursor with other filters: 400');
like($r->{json}{error}{message} // '', qr/other filters/, 'cursor with other filters: says so');
$r = $t->get_json('/api/sessions?day=someday');
like($r->{json}{error}{message} // '', qr/YYYY-MM-DD.*today.*tomorrow/, 'day error: accepted forms');

$t->done_testing();


# ---------------------------------------------------------------- helpers

sub ok200 {
    my ($qs, $name, $quiet) = @_;
    my $r = $t->get_json("/api/sessions?$qs");
    if ($quiet) {
        diag("$name: $r->{status} " . substr($r->{body} // '', 0, 300)) if $r->{status} != 200;
    } else {
        is($r->{status}, 200, "$name: 200") or diag(substr($r->{body} // '', 0, 500));
    }
    return ref $r->{json} eq 'HASH' ? $r->{json} : {};
}

# A Sessionize "All" file: 4 sessions a day on 4 days, local wall-clock
# times; José Müller speaks at 09:00, Jane Smith otherwise; rooms Hall A,
# Hall B and Hall AB; levels and tracks rotate.
sub schedule {
    my ($k, @days) = @_;
    my (@s, $n);
    my @rooms = ({ id => 1, name => 'Hall A', sort => 0 }, { id => 2, name => 'Hall B', sort => 1 },
                 { id => 3, name => 'Hall AB', sort => 2 });
    my @topics = ('Kubernetes operators', 'Data pipelines', 'Zero trust networks', 'Copilot agents');
    for my $d (@days) {
        my $i = 0;
        for my $hm ('09:00', '11:00', '14:00', '16:00') {
            $n++;
            my ($h) = $hm =~ /^(\d\d)/;
            push @s, {
                id => "$k$n", title => "Zonetest $topics[$i] $k $n",
                description => "A talk about $topics[$i] at the zonetest conference.",
                startsAt => "${d}T$hm:00", endsAt => sprintf('%sT%02d:45:00', $d, $h),
                isServiceSession => JSON::PP::false, isPlenumSession => JSON::PP::false,
                speakers => [$hm eq '09:00' ? 'sp1' : 'sp2'],
                categoryItems => [100 + $n % 3, 200 + $i % 2], questionAnswers => [],
                roomId => $rooms[$n % 3]{id}, liveUrl => undef, recordingUrl => undef,
                status => 'Accepted', isInformed => JSON::PP::true, isConfirmed => JSON::PP::true,
            };
            $i++;
        }
    }
    return JSON::PP->new->utf8->canonical->encode({
        sessions => \@s,
        speakers => [
            { id => 'sp1', firstName => 'José', lastName => 'Müller', fullName => 'José Müller',
              bio => undef, tagLine => undef, profilePicture => undef, isTopSpeaker => JSON::PP::false,
              links => [], sessions => [], categoryItems => [], questionAnswers => [] },
            { id => 'sp2', firstName => 'Jane', lastName => 'Smith', fullName => 'Jane Smith',
              bio => undef, tagLine => undef, profilePicture => undef, isTopSpeaker => JSON::PP::false,
              links => [], sessions => [], categoryItems => [], questionAnswers => [] }],
        categories => [
            { id => 1, title => 'Level', sort => 0, type => 'session',
              items => [{ id => 100, name => 'Introductory', sort => 0 },
                        { id => 101, name => 'Intermediate', sort => 1 },
                        { id => 102, name => 'Advanced', sort => 2 }] },
            { id => 2, title => 'Track', sort => 1, type => 'session',
              items => [{ id => 200, name => 'Cloud', sort => 0 },
                        { id => 201, name => 'Data', sort => 1 }] }],
        rooms => \@rooms,
        questions => [],
    });
}
