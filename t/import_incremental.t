#!/usr/bin/perl

# Imports write what changed and nothing else (issue 13), and what they
# keep by difference equals what a from-scratch count gives:
#
#   * a re-import of an unchanged schedule writes no row of sessions,
#     their speaker and tag links, speakers, tags or the term statistics
#     (every row keeps its xmin);
#   * a re-import with a changed title, a removed session and a new
#     speaker on one session rewrites those sessions only;
#   * after every import, confhaven.refresh_documents() (the from-scratch
#     recomputation of the search columns and of search_words,
#     search_acronyms, search_compounds and the conference counters)
#     changes nothing: the search columns and the statistics the import
#     kept by difference are what the sessions say;
#   * a vocabulary that is not what the sessions say (rows missing) is
#     noticed by the next import that changes something, and counted again.
#
# On a Sessionize file (scottish-summit-2026) and on a frab XML file with
# German sessions (31c3: compounds), through confhaven.import_schedule().

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();

use ConfHaven::Test;

my $t = ConfHaven::Test->new()->needs_pg();
$t->plan(6);

my $JSON = JSON::PP->new->utf8->canonical;
my $samples = $t->samples_dir;

sub slurp {
    my ($f) = @_;
    open my $fh, '<:raw', $f or die "$f: $!";
    local $/;
    return scalar <$fh>;
}

my $n = 0;
sub import_body {
    my ($slug, $tz, $body) = @_;
    my $f = $t->testdir . "/body-" . ++$n;
    $t->write_file($f, $body);
    return $t->psql(<<"SQL");
\\set body `cat '$f'`
SELECT confhaven.import_schedule('$slug', '$slug', '$tz', NULL, NULL, :'body') -> 'sessions';
SQL
}

# every row an import may write, with its xmin, per table
sub rows {
    my ($slug) = @_;
    my %r;
    my $c = "(SELECT id FROM confhaven.conferences WHERE slug = '$slug')";
    my %q = (
        sessions => "SELECT s.external_id, s.xmin FROM confhaven.sessions s WHERE s.conference_id = $c",
        session_speakers => "SELECT s.external_id || '/' || ss.speaker_id, ss.xmin FROM confhaven.session_speakers ss"
            . " JOIN confhaven.sessions s ON s.id = ss.session_id WHERE s.conference_id = $c",
        session_tags => "SELECT s.external_id || '/' || st.tag_id, st.xmin FROM confhaven.session_tags st"
            . " JOIN confhaven.sessions s ON s.id = st.session_id WHERE s.conference_id = $c",
        speakers => "SELECT external_id, xmin FROM confhaven.speakers WHERE conference_id = $c",
        tags => "SELECT name, xmin FROM confhaven.tags WHERE conference_id = $c",
        search_words => "SELECT word, xmin FROM confhaven.search_words WHERE conference_id = $c",
        search_acronyms => "SELECT acronym || '=' || expansion, xmin FROM confhaven.search_acronyms WHERE conference_id = $c",
        search_compounds => "SELECT part || '/' || word, xmin FROM confhaven.search_compounds WHERE conference_id = $c",
    );
    for my $tb (sort keys %q) {
        my $out = $t->psql("SELECT string_agg(k || E'\\t' || x, E'\\n' ORDER BY k) FROM ($q{$tb}) r(k, x)");
        $r{$tb} = { map { split /\t/, $_, 2 } grep { $_ ne '' } split /\n/, $out // '' };
    }
    return \%r;
}

# keys of a table whose row was written (new xmin) or is new
sub written {
    my ($before, $after, $tb) = @_;
    return [sort grep { !exists $before->{$tb}{$_} || $before->{$tb}{$_} ne $after->{$tb}{$_} }
            keys %{$after->{$tb}}];
}

# the statistics and search columns the import left, against a recount
# from scratch (in a transaction rolled back)
sub recount {
    my ($slug) = @_;
    return $t->psql(<<"SQL");
BEGIN;
CREATE TEMP TABLE before_w AS SELECT w.word, w.ndoc FROM confhaven.search_words w
  JOIN confhaven.conferences c ON c.id = w.conference_id WHERE c.slug = '$slug';
CREATE TEMP TABLE before_a AS SELECT a.acronym, a.expansion FROM confhaven.search_acronyms a
  JOIN confhaven.conferences c ON c.id = a.conference_id WHERE c.slug = '$slug';
CREATE TEMP TABLE before_k AS SELECT k.part, k.word, k.ndoc FROM confhaven.search_compounds k
  JOIN confhaven.conferences c ON c.id = k.conference_id WHERE c.slug = '$slug';
CREATE TEMP TABLE before_c AS SELECT session_count, max_duration, search_langs
  FROM confhaven.conferences WHERE slug = '$slug';
SELECT confhaven.refresh_documents(id) AS docs FROM confhaven.conferences WHERE slug = '$slug' \\gset
CREATE TEMP TABLE after_w AS SELECT w.word, w.ndoc FROM confhaven.search_words w
  JOIN confhaven.conferences c ON c.id = w.conference_id WHERE c.slug = '$slug';
SELECT format('documents %s, words %s/%s, acronyms %s/%s, compounds %s/%s, counters %s',
    :docs,
    (SELECT count(*) FROM before_w), (SELECT count(*) FROM ((TABLE before_w EXCEPT TABLE after_w)
         UNION ALL (TABLE after_w EXCEPT TABLE before_w)) d),
    (SELECT count(*) FROM before_a), (SELECT count(*) FROM ((TABLE before_a EXCEPT
         SELECT a.acronym, a.expansion FROM confhaven.search_acronyms a
           JOIN confhaven.conferences c ON c.id = a.conference_id WHERE c.slug = '$slug')
         UNION ALL (SELECT a.acronym, a.expansion FROM confhaven.search_acronyms a
           JOIN confhaven.conferences c ON c.id = a.conference_id WHERE c.slug = '$slug'
         EXCEPT TABLE before_a)) d),
    (SELECT count(*) FROM before_k), (SELECT count(*) FROM ((TABLE before_k EXCEPT
         SELECT k.part, k.word, k.ndoc FROM confhaven.search_compounds k
           JOIN confhaven.conferences c ON c.id = k.conference_id WHERE c.slug = '$slug')
         UNION ALL (SELECT k.part, k.word, k.ndoc FROM confhaven.search_compounds k
           JOIN confhaven.conferences c ON c.id = k.conference_id WHERE c.slug = '$slug'
         EXCEPT TABLE before_k)) d),
    (SELECT CASE WHEN (b.session_count, b.max_duration, b.search_langs)
                      IS NOT DISTINCT FROM (c.session_count, c.max_duration, c.search_langs)
                 THEN 'same' ELSE 'differ' END
       FROM before_c b, confhaven.conferences c WHERE c.slug = '$slug'));
ROLLBACK;
SQL
}

sub same_as_recount {
    my ($slug, $what) = @_;
    my $r = recount($slug);
    like($r, qr/^documents 0, words \d+\/0, acronyms \d+\/0, compounds \d+\/0, counters same$/,
         "$what: what the import kept equals a recount from scratch") or diag($r);
}

# ------------------------------------------------------------ Sessionize

subtest 'Sessionize: unchanged re-import writes nothing' => sub {
    plan(tests => 4);
    my $body = slurp("$samples/sessionize-all_scottish-summit-2026.json");
    import_body('scottish', 'Europe/London', $body);
    same_as_recount('scottish', 'first import');
    my $before = rows('scottish');
    ok(scalar keys %{$before->{search_words}} > 100, 'a vocabulary');
    my $c = import_body('scottish', 'Europe/London', $body);
    like($c, qr/"updated": 61\b/, 'the answer still counts 61 matched sessions');
    my $after = rows('scottish');
    my @w = map { my $k = written($before, $after, $_); @$k ? "$_: " . scalar(@$k) : () }
            sort keys %$after;
    is_deeply(\@w, [], 'no row written (every xmin kept)');
};

subtest 'Sessionize: changed title, removed session, new speaker' => sub {
    plan(tests => 7);
    my $doc = $JSON->decode(slurp("$samples/sessionize-all_scottish-summit-2026.json"));
    my @talks = grep { !$_->{isServiceSession} && @{$_->{speakers} // []} } @{$doc->{sessions}};
    my ($retitled, $gone, $joined) = @talks[3, 7, 12];
    $retitled->{title} = 'Quantum Kubernetes for Llamas (QKL) and Software Defined Radio (SDR)';
    @{$doc->{sessions}} = grep { $_->{id} ne $gone->{id} } @{$doc->{sessions}};
    push @{$doc->{speakers}}, { id => 'new-speaker-0001', fullName => 'Zebulon Quarkfeather',
                                firstName => 'Zebulon', lastName => 'Quarkfeather', bio => 'New.' };
    push @{$joined->{speakers}}, 'new-speaker-0001';

    my $before = rows('scottish');
    my $c = import_body('scottish', 'Europe/London', $JSON->encode($doc));
    like($c, qr/"deleted": 1\b/, 'one session deleted') or diag($c);
    my $after = rows('scottish');
    is_deeply(written($before, $after, 'sessions'), [sort $retitled->{id}, $joined->{id}],
              'the retitled session and the one with a new speaker rewritten, no other');
    is_deeply(written($before, $after, 'speakers'), ['new-speaker-0001'], 'one speaker added');
    ok(exists $after->{search_acronyms}{'qkl=quantum kubernetes for llamas'},
       'the acronym the new title spells out is learned');
    ok(exists $after->{search_words}{quarkfeather}, 'the new speaker\'s name is a word');
    ok(!exists $after->{sessions}{$gone->{id}}, 'the removed session is gone');
    same_as_recount('scottish', 'changed file');
};

subtest 'Sessionize: back to the original' => sub {
    plan(tests => 3);
    my $c = import_body('scottish', 'Europe/London',
                        slurp("$samples/sessionize-all_scottish-summit-2026.json"));
    like($c, qr/"inserted": 1\b/, 'the removed session comes back') or diag($c);
    my $after = rows('scottish');
    ok(!exists $after->{search_acronyms}{'qkl=quantum kubernetes for llamas'},
       'the acronym no session spells out any more is gone');
    same_as_recount('scottish', 'original again');
};

# ------------------------------------------------ frab XML, German sessions

subtest 'frab XML with German sessions: compounds kept by difference' => sub {
    plan(tests => 6);
    my $xml = slurp("$samples/frab-xml_31c3-2014.schedule.xml");
    import_body('c31', 'Europe/Berlin', $xml);
    same_as_recount('c31', 'first import');
    my $before = rows('c31');
    ok(scalar keys %{$before->{search_compounds}} > 0, 'compounds found');

    import_body('c31', 'Europe/Berlin', $xml);
    my $after = rows('c31');
    is_deeply(written($before, $after, 'sessions'), [], 'unchanged: no session written');

    # a German title changed, the first event removed
    my $x = $xml;
    my $k = 0;
    $x =~ s{(<title>)(Mit Kunst die Gesellschaft hacken)(</title>)}
           {$k++ ? "$1$2$3" : "$1Datenschutzgrundverordnungskompetenzzentrum und $2$3"}e;
    ok($k > 0, 'a German title to change');
    $x =~ s{<event\b.*?</event>}{}s;
    import_body('c31', 'Europe/Berlin', $x);
    same_as_recount('c31', 'changed file');
    import_body('c31', 'Europe/Berlin', $xml);
    same_as_recount('c31', 'original again');
};

# --------------------------------------------- a speaker renamed elsewhere

subtest 'a renamed speaker rewrites the sessions naming them' => sub {
    plan(tests => 3);
    my $doc = $JSON->decode(slurp("$samples/sessionize-all_scottish-summit-2026.json"));
    my ($sp) = grep { my $id = $_->{id}; grep { grep { $_ eq $id } @{$_->{speakers} // []} }
                      @{$doc->{sessions}} } @{$doc->{speakers}};
    my @theirs = sort map { $_->{id} } grep { grep { $_ eq $sp->{id} } @{$_->{speakers} // []} }
                 @{$doc->{sessions}};
    $sp->{fullName} = 'Renamed Person Xylophonist';
    my $before = rows('scottish');
    import_body('scottish', 'Europe/London', $JSON->encode($doc));
    my $after = rows('scottish');
    is_deeply(written($before, $after, 'sessions'), \@theirs, 'their sessions only');
    ok(exists $after->{search_words}{xylophonist}, 'the new name is a word');
    same_as_recount('scottish', 'renamed speaker');
};

# ------------------------------- a vocabulary that is not what it should be

subtest 'a vocabulary out of step is counted again' => sub {
    plan(tests => 2);
    $t->psql("DELETE FROM confhaven.search_words WHERE conference_id ="
             . " (SELECT id FROM confhaven.conferences WHERE slug = 'scottish')");
    my $doc = $JSON->decode(slurp("$samples/sessionize-all_scottish-summit-2026.json"));
    my ($s) = grep { !$_->{isServiceSession} } @{$doc->{sessions}};
    $s->{title} = 'Zyxwvut';              # its old words go: counts below 0
    $s->{description} = 'Qwertzuiop';
    import_body('scottish', 'Europe/London', $JSON->encode($doc));
    ok(scalar keys %{rows('scottish')->{search_words}} > 100, 'the vocabulary is back');
    same_as_recount('scottish', 'after the recount');
};
