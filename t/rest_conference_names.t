#!/usr/bin/perl

# GET /api/sessions?conference=... with a conference given loosely: the one
# SQL rule of confhaven._find_conference (sql/functions/40_conferences.sql).
# Besides slugs and names (which already worked), the compact form: letters
# and digits only, a "20yy" year read as "yy", the name with its start
# year appended ("Scottish Summit 26", "scottishsummit2026", "PyCon AU 24").
# The answer is the slug's answer, with "query.conference" the slug and
# "query.conference_given" the text as the database received it (REST
# lower-cases the parameter), present only when it differs from the slug.
# Several conferences matching, or none, stay the "unknown conference"
# error of before (400, message naming the value, hint listing the slugs).
# Before, only the MCP tool resolved these forms (a retry in C); REST
# answered 400.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

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

my %sample = map { $_->{slug} => $_ } read_samples($t->samples_dir . '/samples.tsv');

for my $slug (qw(scottish-summit-2026 pycon-au-2024 global-azure-linz-2024
                 qa-or-the-highway-2026))
{
    my $s = $sample{$slug} // {};
    my $r = $t->import_file($slug, $s->{file} // "$slug.missing",
                            map { $_ => $s->{$_} }
                                qw(name timezone location website));
    is($r->{status}, 200, "import $slug")
        or diag(substr($r->{body} // '', 0, 500));
}


# ---- loose forms resolve to the slug, with the same answer

my @loose = (
    # given                        slug
    ['Scottish Summit 26',         'scottish-summit-2026'],
    ['scottish summit 26',         'scottish-summit-2026'],
    ['ScottishSummit2026',         'scottish-summit-2026'],
    ['scottishsummit26',           'scottish-summit-2026'],
    ['Scottish_Summit, 26!',       'scottish-summit-2026'],
    ['PyCon AU 24',                'pycon-au-2024'],
    ['PYCON-AU-24',                'pycon-au-2024'],
    ['pyconau2024',                'pycon-au-2024'],
    ['QA or the Highway 26',       'qa-or-the-highway-2026'],
    ['Global Azure 2024 Linz 24',  'global-azure-linz-2024'],
);

for my $l (@loose) {
    my ($given, $slug) = @$l;
    my $r = search('conference=' . uri($given) . '&include_past=true&limit=50');
    is($r->{status}, 200, "conference=\"$given\": 200")
        or diag(substr($r->{body} // '', 0, 400));
    my $q = obj(obj($r->{json})->{query});
    is($q->{conference}, $slug, "conference=\"$given\": query.conference is $slug");
    is($q->{conference_given}, lc $given,
       "conference=\"$given\": query.conference_given is the text given (case folded by REST)");
    my $by_slug = search("conference=$slug&include_past=true&limit=50");
    is_deeply(ids($r), ids($by_slug), "conference=\"$given\": the sessions of $slug");
}

# the slug itself (in any case: REST folds it) has no conference_given
for my $given ('scottish-summit-2026', 'Scottish-Summit-2026', ' scottish-summit-2026 ') {
    my $r = search('conference=' . uri($given) . '&include_past=true&limit=1');
    my $q = obj(obj($r->{json})->{query});
    is($q->{conference}, 'scottish-summit-2026', "conference=\"$given\": the slug");
    ok(!exists $q->{conference_given}, "conference=\"$given\": no conference_given");
}

# a name that resolved before still does, now with conference_given
my $r = search('conference=' . uri('Scottish Summit 2026') . '&include_past=true&limit=1');
is(obj(obj($r->{json})->{query})->{conference}, 'scottish-summit-2026',
   'conference by name: resolved');
is(obj(obj($r->{json})->{query})->{conference_given}, 'scottish summit 2026',
   'conference by name: conference_given');


# ---- no match, or several: the unknown-conference error as before

my $none = search('conference=' . uri('Scottish Summit 25') . '&include_past=true');
is($none->{status}, 400, 'another year: 400');
is(err($none)->{code}, 'bad_parameter', 'another year: bad_parameter');
is(err($none)->{message}, 'unknown conference "scottish summit 25"',
   'another year: unknown conference, named');
like(err($none)->{hint} // '', qr/^Valid conference slugs: .*scottish-summit-2026/,
     'another year: the hint lists valid slugs');

# two conferences with the same compact name ("devconf25")
$t->psql(q{INSERT INTO confhaven.conferences (slug, name, timezone, start_date, end_date)
           VALUES ('devconf-a', 'DevConf 2025', 'UTC', '2025-05-01', '2025-05-02'),
                  ('devconf-b', 'Dev Conf 25', 'UTC', '2025-06-01', '2025-06-02')});
my $amb = search('conference=devconf25&include_past=true');
is($amb->{status}, 400, 'two conferences alike: 400');
is(err($amb)->{code}, 'bad_parameter', 'two conferences alike: bad_parameter');
is(err($amb)->{message}, 'unknown conference "devconf25"',
   'two conferences alike: the unknown conference message');
like(err($amb)->{hint} // '', qr/^Valid conference slugs: .*devconf-a.*devconf-b|^Valid conference slugs: .*devconf-b.*devconf-a/,
     'two conferences alike: the hint lists both slugs');
my $one = search('conference=' . uri('Dev Conf 25') . '&include_past=true');
is(obj(obj($one->{json})->{query})->{conference}, 'devconf-b',
   'the name of one of them: that one');

$t->done_testing();


sub search { return $t->get_json("/api/sessions?$_[0]") }

sub uri {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

sub ids { return [map { $_->{id} } @{ arr(obj($_[0]{json})->{sessions}) }] }

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
