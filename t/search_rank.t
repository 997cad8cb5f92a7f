#!/usr/bin/perl

# Ranking by what is rare and what the schedules teach (issue 13), on small
# purpose-made schedules imported with confhaven.import_schedule() and
# searched with confhaven.api_search():
#
#   * an acronym spelled out in one session ("Software Defined Radio
#     (SDR)") is learned by the import: a search for the expansion finds
#     the session that only says "SDR", and the other way round;
#   * a German word is found inside a compound of a German schedule
#     ("sicherheit" in "Cloudsicherheit"): the session that holds both
#     query words, one of them in a compound, ranks first;
#   * a misspelt product name with a doubled letter ("grafanna") that one
#     abstract happens to use is also read as the word the others use;
#   * a long question ranks by its rare words: the one session about
#     WebAssembly comes first, not the many that share the question's
#     common words.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();

use ConfHaven::Test;


my $t = ConfHaven::Test->new()->needs_pg();
$t->plan(10);

my $JSON = JSON::PP->new->utf8->canonical;

# a Sessionize "All" schedule: [id, title, abstract], one hour each from
# 2027-05-03 09:00 on, in the order given
sub schedule {
    my (@s) = @_;
    my $h = 9;
    my @sessions;
    for my $x (@s) {
        my ($id, $title, $abstract) = @$x;
        my $start = sprintf('2027-05-03T%02d:00:00', $h);
        my $end = sprintf('2027-05-03T%02d:50:00', $h);
        $h++;
        push @sessions, {
            id => $id, title => $title, description => $abstract,
            startsAt => $start, endsAt => $end, isServiceSession => JSON::PP::false,
            isPlenumSession => JSON::PP::false, speakers => [], categoryItems => [],
            questionAnswers => [], roomId => 1,
        };
    }
    return $JSON->encode({ sessions => \@sessions, speakers => [], categories => [],
                           questions => [], rooms => [{ id => 1, name => 'Hall A' }] });
}

sub import_schedule {
    my ($slug, $body) = @_;
    my $f = $t->testdir . "/$slug.json";
    $t->write_file($f, $body);
    return $t->psql(<<"SQL");
\\set body `cat '$f'`
SELECT (confhaven.import_schedule('$slug', '$slug', 'Europe/Berlin', NULL, NULL, :'body')
        -> 'sessions' ->> 'total')::int;
SQL
}

# external ids of the first page, in order
sub search {
    my ($q, $conf) = @_;
    (my $lit = $q) =~ s/'/''/g;
    my $out = $t->psql(<<"SQL");
SELECT coalesce(string_agg(e ->> 'external_id', ' ' ORDER BY o), '')
  FROM json_array_elements(confhaven.api_search('$lit', '$conf', NULL, NULL, 20, true) -> 'sessions')
       WITH ORDINALITY x(e, o);
SQL
    return split / /, $out;
}

# 1. acronyms learned from the schedule
is(import_schedule('radio-2027', schedule(
    ['r1', 'Listening to the sky',
     'We build a Software Defined Radio (SDR) receiver from a cheap USB stick and decode '
     . 'aircraft positions.'],
    ['r2', 'SDR for beginners',
     'Cheap dongles, antennas and what you can hear with them.'],
    ['r3', 'Soldering workshop',
     'Bring your own kit; we provide irons, flux and coffee.'])), 3, 'radio schedule imported');
my @r = search('software defined radio', 'radio-2027');
ok((grep { $_ eq 'r2' } @r), 'the expansion finds the session that only says SDR: ' . "@r");
@r = search('sdr', 'radio-2027');
is_deeply([sort @r], ['r1', 'r2'], 'the acronym finds both: ' . "@r");

# 2. German compounds matched by their parts
is(import_schedule('sicher-2027', schedule(
    ['g2', 'Kubernetes Grundlagen',
     'Wir zeigen die ersten Schritte mit Kubernetes und erklären, wie die Werkzeuge '
     . 'zusammenspielen und was man dafür braucht.'],
    ['g1', 'Cloudsicherheit mit Kubernetes',
     'Wir zeigen, wie man die Cloudsicherheit eines Clusters mit einfachen Mitteln verbessert '
     . 'und was dabei zu beachten ist.'],
    ['g3', 'Datenbanken in der Praxis',
     'Wie wir unsere Datenbanken betreiben und was wir dabei gelernt haben.'])), 3,
   'German schedule imported');
@r = search('kubernetes sicherheit', 'sicher-2027');
is($r[0], 'g1', 'the session with the compound ranks first: ' . "@r");

# 3. a typo with a doubled letter that one abstract happens to use
is(import_schedule('dash-2027', schedule(
    ['d1', 'Dashboards that help', 'Grafana panels for the on-call engineer.'],
    ['d2', 'Alerting done right', 'Alert rules in Grafana and where they go wrong.'],
    ['d3', 'Metrics at scale', 'Prometheus and Grafana for a thousand services.'],
    ['d4', 'Our monitoring story', 'How we moved from Nagios to Grafanna and never looked back.'],
    ['d5', 'Team rituals', 'Retrospectives that people want to attend.'])), 5, 'dashboard schedule imported');
@r = search('grafanna', 'dash-2027');
is_deeply([sort @r], ['d1', 'd2', 'd3', 'd4'], 'grafanna also finds Grafana: ' . "@r");

# 4. a long question ranks by its rare words
my @apps = map {
    ["a$_", "Building modern applications with language $_",
     "Learn how to build modern applications step by step; we build an application together "
     . "and learn what modern tooling brings."]
} 1 .. 10;
is(import_schedule('apps-2027', schedule(
    @apps,
    ['w1', 'Running WebAssembly on the server',
     'Compile once, run anywhere: a tour of server-side runtimes.'])), 11, 'apps schedule imported');
@r = search('I would like to learn about building modern applications with webassembly', 'apps-2027');
is($r[0], 'w1', 'the rare word decides the first place: ' . "@r");
cmp_ok(scalar(@r), '>=', 2, 'the common words still find the others');
