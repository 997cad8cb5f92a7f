#!/usr/bin/perl

# What one search costs the database, counted rather than timed (issue 13):
# 1,000 generated sessions (../shared/tools/gen-sessions) imported with
# confhaven.import_schedule(), then confhaven.api_search() of REST (facets
# on) for queries that match many sessions, each in its own transaction,
# with the transaction's own statistics counters around the call:
#
#   * sessions read by id (sessions_pkey): the candidates' pass collects
#     the pre-rank and the facets' values, so only the rows that get the
#     full score and the page's rows are read again; the search used to read
#     every match twice more by id (pre-rank, facets);
#   * ts_headline runs only for page rows whose abstract holds a query
#     word: confhaven._highlight is called exactly as many times as the
#     page has highlights (it used to be called for every page row, twice
#     when nothing matched);
#   * highlights come from one regular expression per search (issue 13:
#     ts_headline parsed and stemmed every word of each abstract, about a
#     third of a one-word search): ts_headline (_highlight_headline) runs
#     only for a row whose marked words the expression misses, none here;
#     a highlight has at most two fragments of at most 28 words;
#   * the ranking reads each scored row's document from TOAST once, and
#     the document tiers test the substrings before the document: at most
#     2 TOAST blocks per row that gets the full score or is on the page
#     (the document was fetched again at each of its four and more uses,
#     the trigram indexes' rows had theirs read before the substrings).
#
# Skipped without the shared folder (../shared, as make bench).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;


my $t = ConfHaven::Test->new()->needs_pg()->needs_shared();

my $gen = $t->shared_dir . '/../../tools/gen-sessions';     # ../shared/tools
plan(skip_all => "no $gen") unless -f $gen;

my @queries = (
    # q, limit: REST search, include_past (all sessions, any date)
    ['ai', 20],
    ['azure', 20],
    ['security', 10],
    ['copilot agents', 20],
    ['', 20],
);
$t->plan(6 * @queries + 2);

my $dir = $t->testdir . '/gen';
system('python3', $gen, '--conferences', '1', '--sessions-per-conference', '1000',
       '--seed', '42', '--out', $dir, '--quiet') == 0
    or BAIL_OUT('gen-sessions failed');
my ($file) = grep { !m{/conferences\.json$} } glob("$dir/*.json");

my $imported = $t->psql(<<"SQL");
\\set body `cat '$file'`
SELECT (confhaven.import_schedule('cost-2026', 'Cost 2026', 'Europe/Berlin', NULL, NULL, :'body')
        -> 'sessions' ->> 'total')::int;
SQL
cmp_ok($imported, '>=', 900, "imported $imported sessions");
$t->psql('VACUUM ANALYZE confhaven.sessions');
is($t->psql(q{SELECT count(*) FROM pg_proc WHERE oid = 'confhaven._highlight'::regproc}), 1,
   '_highlight exists');

for my $q (@queries) {
    my ($text, $lim) = @$q;
    my $lit = $text eq '' ? 'NULL' : "'$text'";
    my $out = $t->psql(<<"SQL");
SET track_functions = 'all';
SET enable_seqscan = off;        -- index plans whatever the table's size
BEGIN;
SELECT (SELECT reltoastrelid FROM pg_class WHERE oid = 'confhaven.sessions'::regclass) AS toast \\gset
SELECT pg_stat_get_xact_blocks_fetched(:toast) AS tb0,
       pg_stat_get_xact_tuples_fetched('confhaven.sessions_pkey'::regclass) AS b0,
       coalesce(pg_stat_get_xact_function_calls('confhaven._highlight'::regproc), 0) AS h0,
       coalesce(pg_stat_get_xact_function_calls('confhaven._highlight_headline'::regproc), 0) AS t0 \\gset
SELECT confhaven.api_search($lit, NULL, NULL, NULL, $lim, true,
                            NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) AS r \\gset
SELECT pg_stat_get_xact_tuples_fetched('confhaven.sessions_pkey'::regclass) - :b0,
       coalesce(pg_stat_get_xact_function_calls('confhaven._highlight'::regproc), 0) - :h0,
       (:'r'::json ->> 'total')::int,
       json_array_length(:'r'::json -> 'sessions'),
       (SELECT count(*) FROM json_array_elements(:'r'::json -> 'sessions') e
         WHERE e ->> 'highlight' IS NOT NULL),
       json_typeof(:'r'::json -> 'facets'),
       coalesce(pg_stat_get_xact_function_calls('confhaven._highlight_headline'::regproc), 0) - :t0,
       (SELECT count(*) FROM json_array_elements(:'r'::json -> 'sessions') e
         WHERE e ->> 'highlight' IS NOT NULL
           AND (strpos(e ->> 'highlight', '«') = 0
                OR cardinality(string_to_array(e ->> 'highlight', ' … ')) > 2
                OR EXISTS (SELECT 1 FROM unnest(string_to_array(e ->> 'highlight', ' … ')) f
                            WHERE cardinality(string_to_array(f, ' ')) > 28))),
       pg_stat_get_xact_blocks_fetched(:toast) - :tb0;
COMMIT;
SQL
    my ($byid, $hl_calls, $total, $count, $hl, $facets, $headlines, $badhl, $toast)
        = split /\|/, $out;
    my $name = $text eq '' ? '(no q)' : "q=$text";
    diag("$name: total $total, page $count, sessions read by id $byid, "
         . "_highlight calls $hl_calls, highlights $hl, ts_headline $headlines, "
         . "TOAST blocks $toast");
    ok($total > 3 * $lim && $facets eq 'object', "$name: many matches ($total), facets");
    # the candidates come from one pass of the tier query (bitmap or
    # ordered index scans); by id only the rows that get the full score
    # (3 x limit, at least 60) and the page's rows
    my $top = 3 * $lim > 60 ? 3 * $lim : 60;
    cmp_ok($byid, '<=', $top + 2 * $lim,
           "$name: $byid sessions read again by id for $total matches");
    is($hl_calls, $hl, "$name: _highlight only for the $hl highlights");
    is($headlines, 0, "$name: highlights without ts_headline");
    is($badhl, 0, "$name: each highlight marks a word, at most two fragments of 28 words");
    cmp_ok($toast, '<=', 2 * ($top + $lim),
           "$name: $toast TOAST blocks read, each scored document once");
}
