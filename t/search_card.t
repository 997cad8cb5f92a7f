#!/usr/bin/perl

# A search result's page row is a concatenation (issue 13): the session's
# own fields (id, external_id, title, speakers, level, tags, snippet) are
# precomputed in sessions.card (020, a stored generated column), and
# _search_page joins them with the conference's, room's and track's values,
# the times, the score and the highlight.  Building the object per page row
# (json_build_object, the snippet's cut) was about two thirds of a page
# row's cost.  The answers must be what json_build_object wrote before,
# byte for byte:
#
#   * every sample and shared session's card, completed with its other
#     values, equals the json_build_object of the same fields (as the
#     search built it), as text;
#   * a re-import that changes a title, a snippet, tags and speakers gives
#     the new card (every write of a session recomputes it);
#   * the sessions of api_search answers (words, listings, a page that is
#     not the first) equal that reference object with the answer's score
#     and highlight.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;

my $t = ConfHaven::Test->new()->needs_pg();
$t->plan(6);

my $samples = $t->samples_dir;

sub slurp {
    my ($f) = @_;
    open my $fh, '<:raw', $f or die "$f: $!";
    local $/;
    return scalar <$fh>;
}

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
if (my $shared = $t->shared_dir) {
    for my $f (sort glob("$shared/*.json")) {
        my $base = (split m{/}, $f)[-1];
        next unless $base =~ /scottish|linz|pycon/;
        (my $slug = lc $base) =~ s/\.(json)$//;
        $slug =~ s/^[a-z-]+_//;
        $slug =~ s/[^a-z0-9-]+/-/g;
        push @files, [$f, "shared-$slug", 'Europe/London'];
    }
}

sub import_file {
    my ($file, $slug, $tz, $body) = @_;
    my $name = "$slug.body";
    $t->write_file($name, $body // slurp($file));
    my $path = $t->testdir . "/$name";
    return $t->psql(<<"SQL");
\\set body `cat '$path'`
SELECT (confhaven.import_schedule('$slug', '$slug', '$tz', NULL, NULL, :'body')
        -> 'sessions' ->> 'total')::int;
SQL
}

my $n = 0;
$n += import_file(@$_) for @files;
note(scalar(@files) . " files, $n sessions");

# the reference: what _search_page's json_build_object wrote per row
my $ref = <<'SQL';
CREATE TEMP VIEW ref AS
SELECT s.id,
       s.card[1] || coalesce(to_json(c.slug)::text, 'null')
       || s.card[2] || coalesce(to_json(confhaven.iso_local(s.start_at, c.timezone))::text, 'null')
       || ', "end" : ' || coalesce(to_json(confhaven.iso_local(s.end_at, c.timezone))::text, 'null')
       || ', "timezone" : ' || coalesce(to_json(c.timezone)::text, 'null')
       || ', "room" : ' || coalesce(to_json(r.name)::text, 'null')
       || ', "track" : ' || coalesce(to_json(tr.name)::text, 'null')
       || s.card[3] || '1.500, "highlight" : null}' AS card,
       json_build_object(
            'id', s.id,
            'external_id', s.external_id,
            'conference', c.slug,
            'title', btrim(s.title),
            'speakers', to_json(s.speaker_names),
            'start', confhaven.iso_local(s.start_at, c.timezone),
            'end', confhaven.iso_local(s.end_at, c.timezone),
            'timezone', c.timezone,
            'room', r.name,
            'track', tr.name,
            'level', s.level,
            'tags', to_json(s.tag_names),
            'snippet', confhaven.snippet(s.abstract_plain),
            'score', round(1.5, 3),
            'highlight', NULL::text)::text AS obj
  FROM confhaven.sessions s
  JOIN confhaven.conferences c ON c.id = s.conference_id
  LEFT JOIN confhaven.rooms r ON r.id = s.room_id
  LEFT JOIN confhaven.tracks tr ON tr.id = s.track_id;
SQL

my $r = $t->psql($ref . <<'SQL');
SELECT count(*), count(*) FILTER (WHERE card IS DISTINCT FROM obj),
       coalesce(min(id) FILTER (WHERE card IS DISTINCT FROM obj), 0)
  FROM ref;
SQL
my ($all, $bad, $first) = split /\|/, $r;
ok($all >= $n && $n > 500 && $bad == 0,
   "every session's card is the object json_build_object wrote ($all sessions)")
    or diag("$bad differ, e.g. session $first:\n"
            . $t->psql($ref . "SELECT card || E'\\n' || obj FROM ref WHERE id = $first"));

# a re-import that changes what a card holds
my ($file, $slug, $tz) = @{ $files[0] };
my $body = slurp($file);
my $old = $t->psql(<<"SQL");
SELECT s.card[2] FROM confhaven.sessions s JOIN confhaven.conferences c ON c.id = s.conference_id
 WHERE c.slug = '$slug' ORDER BY s.id LIMIT 1
SQL
my $changed = ($body =~ s/"title"(\s*):(\s*)"/"title"$1:$2"Zzcard \\"new\\" /g) || 0;
ok($changed > 0 && defined import_file($file, $slug, $tz, $body), "re-import with $changed new titles");
$r = $t->psql($ref . <<"SQL");
SELECT count(*) FILTER (WHERE r.card LIKE '%"title" : "Zzcard \\\\"new\\\\" %'),
       count(*) FILTER (WHERE r.card IS DISTINCT FROM r.obj), count(*)
  FROM ref r JOIN confhaven.sessions s ON s.id = r.id
  JOIN confhaven.conferences c ON c.id = s.conference_id
 WHERE c.slug = '$slug'
SQL
my ($new, $bad2, $conf) = split /\|/, $r;
ok($new > 0 && $bad2 == 0, "the re-imported sessions' cards follow ($new of $conf new titles, $bad2 differ)");

# the answers of api_search: each session as the reference object with the
# answer's own score and highlight
for my $q (["'security'", 'NULL', 20, 'NULL'], ["'cloud'", 'NULL', 5, "'5'"], ['NULL', "'$slug'", 50, 'NULL']) {
    my ($text, $conf, $lim, $off) = @$q;
    $r = $t->psql(<<"SQL");
WITH a AS (
    SELECT confhaven.api_search($text, $conf, NULL, NULL, $lim, true,
                                NULL, NULL, NULL, NULL, NULL, NULL, $off, NULL) AS r),
e AS (
    SELECT e, e::text AS t, (e ->> 'id')::bigint AS id FROM a, json_array_elements(a.r -> 'sessions') e)
SELECT count(*),
       count(*) FILTER (WHERE e.t IS DISTINCT FROM
           (SELECT json_build_object(
                'id', s.id, 'external_id', s.external_id, 'conference', c.slug,
                'title', btrim(s.title), 'speakers', to_json(s.speaker_names),
                'start', confhaven.iso_local(s.start_at, c.timezone),
                'end', confhaven.iso_local(s.end_at, c.timezone),
                'timezone', c.timezone, 'room', r.name, 'track', tr.name, 'level', s.level,
                'tags', to_json(s.tag_names), 'snippet', confhaven.snippet(s.abstract_plain),
                'score', (e.e ->> 'score')::numeric, 'highlight', e.e ->> 'highlight')::text
              FROM confhaven.sessions s
              JOIN confhaven.conferences c ON c.id = s.conference_id
              LEFT JOIN confhaven.rooms r ON r.id = s.room_id
              LEFT JOIN confhaven.tracks tr ON tr.id = s.track_id
             WHERE s.id = e.id))
  FROM e
SQL
    my ($cnt, $diff) = split /\|/, $r;
    ok($cnt > 0 && $diff == 0, "api_search($text, $conf, limit $lim, offset $off): "
       . "$cnt sessions, each the object json_build_object wrote");
}
