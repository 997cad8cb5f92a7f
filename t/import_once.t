#!/usr/bin/perl

# A new conference's import computes each search vector of a session once
# (issue 13), and what it computes is what the reference definitions give:
#
#   * importing a schedule as a new conference calls neither
#     search_document, search_head_document nor _session_words for its
#     sessions (they were called once per session each, and the words of
#     the term statistics parsed each session's text a second time):
#     _search_columns builds the head document once, the document from it,
#     and the session's vocabulary from the unstemmed vectors it already
#     has; _session_words runs only for a session whose text has a "<"
#     (counted with track_functions = all, in the import's transaction;
#     a set-returning SQL function inlined into its query, as
#     _session_words was in the term statistics, is not counted, so the
#     words are checked by the comparisons below);
#   * for every session of every sample (and of the shared conferences when
#     they are there), the stored document and head_doc equal
#     search_document() and search_head_document(), and the words
#     _search_columns returns equal _session_words();
#   * the same on texts made to catch a token that would straddle two of
#     the texts joined (tags, hyphens, URLs, e-mail addresses, signed
#     numbers, entities, accents, empty and missing texts);
#   * refresh_documents() changes no session the import wrote.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;

my $t = ConfHaven::Test->new()->needs_pg();
$t->plan(4);

my $samples = $t->samples_dir;

sub slurp {
    my ($f) = @_;
    open my $fh, '<:raw', $f or die "$f: $!";
    local $/;
    return scalar <$fh>;
}

sub sq { my ($s) = @_; $s //= ''; $s =~ s/'/''/g; return "'$s'" }

# the files: samples.tsv, then the shared conferences not among them
my @files;
{
    open my $fh, '<', "$samples/samples.tsv" or die "samples.tsv: $!";
    <$fh>;
    while (my $l = <$fh>) {
        chomp $l;
        my ($file, $slug, $name, $tz) = split /\t/, $l;
        push @files, ["$samples/$file", $slug, $tz];
    }
}
my %seen = map { ((split m{/}, $_->[0])[-1] => 1) } @files;
if (my $shared = $t->shared_dir) {
    my %tz = ('31c3' => 'Europe/Berlin', 'fosdem' => 'Europe/Brussels',
              'pycon-au' => 'Australia/Melbourne', 'linz' => 'Europe/Vienna',
              'orlando' => 'America/New_York', 'highway' => 'America/New_York',
              'scottish' => 'Europe/London');
    for my $f (sort glob("$shared/*.json"), sort glob("$shared/*.xml")) {
        my $base = (split m{/}, $f)[-1];
        next if $seen{$base};
        my ($key) = grep { $base =~ /\Q$_\E/ } sort keys %tz;
        next unless $key;
        (my $slug = lc $base) =~ s/\.schedule\.(json|xml)$|\.(json|xml)$//;
        $slug =~ s/^[a-z-]+_//;
        $slug =~ s/[^a-z0-9-]+/-/g;
        push @files, [$f, "shared-$slug", $tz{$key}];
    }
}

# ------------------------------------------------ calls during a new import

my (@calls, $n_sessions, $n_lt);
my $i = 0;
for my $f (@files) {
    my ($file, $slug, $tz) = @$f;
    my $body = "$slug.body";
    $t->write_file($body, slurp($file));
    my $path = $t->testdir . "/$body";
    my $out = $t->psql(<<"SQL");
\\set body `cat '$path'`
BEGIN;
SET LOCAL track_functions = 'all';
SELECT confhaven.import_schedule('$slug', '$slug', '$tz', NULL, NULL, :'body') IS NOT NULL AS ok \\gset
SELECT concat_ws(' ',
    (SELECT count(*) FROM confhaven.sessions s JOIN confhaven.conferences c ON c.id = s.conference_id
      WHERE c.slug = '$slug'),
    (SELECT count(*) FROM confhaven.sessions s JOIN confhaven.conferences c ON c.id = s.conference_id
      WHERE c.slug = '$slug'
        AND strpos(concat(s.title, array_to_string(s.tag_names, ' '),
                          array_to_string(s.speaker_names, ' '), s.abstract_plain), '<') > 0),
    coalesce((SELECT sum(calls) FROM pg_stat_xact_user_functions
               WHERE schemaname = 'confhaven' AND funcname = 'search_document'), 0),
    coalesce((SELECT sum(calls) FROM pg_stat_xact_user_functions
               WHERE schemaname = 'confhaven' AND funcname = 'search_head_document'), 0),
    coalesce((SELECT sum(calls) FROM pg_stat_xact_user_functions
               WHERE schemaname = 'confhaven' AND funcname = '_session_words'), 0));
COMMIT;
SQL
    my ($ns, $nlt, $doc, $head, $words) = split / /, $out;
    $n_sessions += $ns;
    $n_lt += $nlt;
    push @calls, "$slug: $ns sessions ($nlt with '<'): search_document $doc,"
        . " search_head_document $head, _session_words $words"
        if $doc != 0 || $head != 0 || $words > $nlt;
}
note(scalar(@files) . " files, $n_sessions sessions, $n_lt with a '<' in their text");
ok($n_sessions > 1000 && !@calls,
   'a new conference: no search_document, search_head_document or _session_words call'
   . ' per session (only for text with "<")')
    or diag(join("\n", @calls));

# ------------------------------------------------ same results

my $r = $t->psql(<<'SQL');
WITH s AS (
    SELECT s.*, tr.name AS track FROM confhaven.sessions s
      LEFT JOIN confhaven.tracks tr ON tr.id = s.track_id),
c AS (
    SELECT s.id, s.document, s.head_doc, s.search_lang, s.title_norm, s.tags_norm,
           s.speakers_norm, s.abstract_norm,
           confhaven.search_document(s.search_lang, s.title, s.subtitle,
               concat_ws(' ', s.track, array_to_string(s.tag_names, ' ')),
               s.abstract_plain, array_to_string(s.speaker_names, ' ')) AS ref_doc,
           confhaven.search_head_document(s.search_lang, s.title, s.subtitle,
               concat_ws(' ', s.track, array_to_string(s.tag_names, ' '))) AS ref_head,
           ARRAY(SELECT w FROM confhaven._session_words(s.title, s.tag_names, s.speaker_names,
                                                        s.abstract_plain) w ORDER BY w) AS ref_words,
           x.document AS x_doc, x.head_doc AS x_head, x.search_lang AS x_lang,
           ARRAY(SELECT w FROM unnest(x.words) w ORDER BY w) AS x_words
      FROM s
     CROSS JOIN LATERAL confhaven._search_columns(s.title, s.subtitle, s.abstract_plain,
                                                  s.language, s.track, s.tag_names,
                                                  s.speaker_names) x)
SELECT concat_ws(' ', count(*),
       count(*) FILTER (WHERE document IS DISTINCT FROM ref_doc OR x_doc IS DISTINCT FROM ref_doc),
       count(*) FILTER (WHERE head_doc IS DISTINCT FROM ref_head OR x_head IS DISTINCT FROM ref_head),
       count(*) FILTER (WHERE x_lang IS DISTINCT FROM search_lang),
       count(*) FILTER (WHERE x_words IS DISTINCT FROM ref_words))
  FROM c;
SQL
my ($n, $bad_doc, $bad_head, $bad_lang, $bad_words) = split / /, $r;
is("$bad_doc $bad_head $bad_lang $bad_words", '0 0 0 0',
   "all $n sessions: document, head_doc and language as the reference, words as _session_words")
    or diag("documents $bad_doc, head documents $bad_head, languages $bad_lang, words $bad_words differ");

# texts made to straddle the joins: title | tags | speakers | abstract
my @texts = (
    ['List<T', ['b>', 'Go'], ['Ann'], 'x y'],
    ['A <b', [], ['c>'], 'd'],
    ['Tags <a href="x', ['y">'], [], 'z</a> end'],
    ['ends with -', ['-5', 'tag-'], ['Jo-'], '-Ann 3.'],
    ['http://example.org/a', ['b@example.org'], ['c.d'], '/usr/bin e-mail'],
    ['1.', ['.5'], ['2.0.1'], 'v1.2 -3.5e4'],
    ['&amp;', ['&lt;'], ['Zoë Straße'], 'Café crème über'],
    [undef, [], [], undef],
    ['', [''], [''], ''],
    ['Title', undef, undef, 'Sicherheitsüberprüfung der Cloud (CSP) und Software Defined Radio (SDR)'],
    ['x' x 60, ['y' x 45], ['z' x 39], 'ab a ' . ('w' x 41)],
    ['<!-- c', ['-->'], ['<?xml'], '?> <b>bold</b>'],
);
my @rows;
for my $x (@texts) {
    my ($ti, $tags, $spk, $abs) = @$x;
    my $arr = sub { my ($a) = @_; defined $a ? 'ARRAY[' . join(',', map { sq($_) } @$a) . ']::text[]' : 'NULL::text[]' };
    push @rows, '(' . join(', ', defined $ti ? sq($ti) : 'NULL', $arr->($tags), $arr->($spk),
                           defined $abs ? sq($abs) : 'NULL') . ')';
}
my $values = join(",\n       ", @rows);
$r = $t->psql(<<"SQL");
WITH v (title, tags, speakers, abstract) AS (VALUES $values),
c AS (
    SELECT v.*, x.*,
           ARRAY(SELECT w FROM confhaven._session_words(v.title, v.tags, v.speakers, v.abstract) w
                  ORDER BY w) AS ref_words,
           confhaven.search_document(x.search_lang, v.title, 'sub',
               concat_ws(' ', 'track', array_to_string(v.tags, ' ')), v.abstract,
               array_to_string(v.speakers, ' ')) AS ref_doc
      FROM v
     CROSS JOIN LATERAL confhaven._search_columns(v.title, 'sub', v.abstract, NULL, 'track',
                                                  v.tags, v.speakers) x)
SELECT concat_ws(' ', count(*),
       count(*) FILTER (WHERE ARRAY(SELECT w FROM unnest(words) w ORDER BY w)
                              IS DISTINCT FROM ref_words),
       count(*) FILTER (WHERE document IS DISTINCT FROM ref_doc))
  FROM c;
SQL
is($r, scalar(@texts) . ' 0 0',
   'texts that straddle the joins: the same words and documents');

# ------------------------------------------------ nothing left to refresh

$r = $t->psql(<<'SQL');
BEGIN;
SELECT coalesce(sum(confhaven.refresh_documents(id)), 0) FROM confhaven.conferences;
ROLLBACK;
SQL
is($r, '0', 'refresh_documents() changes no session the imports wrote');
