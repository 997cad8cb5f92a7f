#!/usr/bin/perl

# GET /api/conferences and GET /api/conferences/{slug} on the bundled
# sample schedules, imported through the real HTTP import endpoint:
# past conferences hidden by default (all samples are past except
# community-developer-connect-2027), include_past=true lists all ordered by
# start date, the conference object's fields, the detail's tracks / levels /
# rooms / days, unknown slug -> 404 JSON error whose hint names the valid
# slugs, include_past=maybe -> 400, HEAD.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->plan(65);

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


# ---- import every sample through POST /api/admin/conferences/{slug}/import

my @samples = read_samples($t->samples_dir . '/samples.tsv');
my %sample = map { $_->{slug} => $_ } @samples;

is(scalar @samples, 6, 'samples.tsv lists 6 sample schedules');

for my $s (@samples) {
    my $r = $t->import_file($s->{slug}, $s->{file}, name => $s->{name},
                            timezone => $s->{timezone},
                            location => $s->{location},
                            website => $s->{website});
    is($r->{status}, 200, "import $s->{slug}")
        or diag(substr($r->{body} // '', 0, 500));
}


# ---- GET /api/conferences: only upcoming ones by default

my @conf_fields = sort qw(slug name location timezone start_date end_date
                          website is_active session_count);

my $r = $t->get_json('/api/conferences');
is($r->{status}, 200, 'list: status');
like($r->{headers}{'content-type'} // '', qr{^application/json\b}i,
     'list: content type');

my $j = obj($r->{json});
is($j->{count}, 1, 'list: one upcoming conference');
ok(defined $j->{include_past} && !$j->{include_past},
   'list: include_past echoed false');
is_deeply([map { $_->{slug} } @{ arr($j->{conferences}) }],
          ['community-developer-connect-2027'],
          'list: past conferences hidden by default');

my $cdc = obj(arr($j->{conferences})->[0]);
is_deeply([sort keys %$cdc], \@conf_fields, 'conference object: fields');
is($cdc->{name}, 'Community Developer Connect 2027', 'conference: name');
is($cdc->{timezone}, 'Europe/London', 'conference: timezone');
is($cdc->{location}, 'London Convention Centre, London, United Kingdom',
   'conference: location');
is($cdc->{website}, 'https://community-developer-connect-2027.example.com/',
   'conference: website');
like($cdc->{start_date} // '', qr/^2027-09-\d\d$/, 'conference: start_date');
like($cdc->{end_date} // '', qr/^2027-09-\d\d$/, 'conference: end_date');
ok(JSON::PP::is_bool($cdc->{is_active}) && $cdc->{is_active},
   'conference: is_active is JSON true');
is($cdc->{session_count}, 117,
   'conference: session_count excludes the 3 service sessions');

$r = $t->get_json('/api/conferences?include_past=false');
is(obj($r->{json})->{count}, 1, 'include_past=false: same as default');


# ---- include_past=true: all, by start date

$r = $t->get_json('/api/conferences?include_past=true');
is($r->{status}, 200, 'include_past=true: status');
$j = obj($r->{json});
is($j->{count}, 6, 'include_past=true: count');
ok($j->{include_past}, 'include_past=true: echoed true');

my @list = @{ arr($j->{conferences}) };
is_deeply([map { $_->{slug} } @list],
          [qw(31c3 global-azure-linz-2024 pycon-au-2024 qa-or-the-highway-2026
              scottish-summit-2026 community-developer-connect-2027)],
          'include_past=true: ordered by start date');

my @dates = map { $_->{start_date} // '' } @list;
is_deeply(\@dates, [sort @dates], 'include_past=true: start dates ascending');

is_deeply([grep { join(',', sort keys %$_) ne join(',', @conf_fields) } @list],
          [], 'include_past=true: every conference has exactly the fields');

is_deeply([map { "$_->{slug}|$_->{name}|$_->{timezone}|$_->{location}" } @list],
          [map { my $s = $sample{$_->{slug}} // {};
                 join '|', $_->{slug}, map { $_ // '' }
                     @$s{qw(name timezone location)} } @list],
          'include_past=true: names, time zones, locations as imported');

my %by = map { $_->{slug} => $_ } @list;
ok(exists $by{'global-azure-linz-2024'}
   && !defined $by{'global-azure-linz-2024'}{website},
   'conference without website: website is null');
is($by{'scottish-summit-2026'}{start_date}, '2026-10-02',
   'scottish summit start_date');
is($by{'scottish-summit-2026'}{end_date}, '2026-10-03',
   'scottish summit end_date');
is($by{'qa-or-the-highway-2026'}{session_count}, 38,
   'qa or the highway: 38 talks (8 service sessions not counted)');
is($by{'pycon-au-2024'}{start_date}, '2024-11-22', 'pycon au start_date');

$r = $t->get_json('/api/conferences?include_past=1');
is(obj($r->{json})->{count}, 6, 'include_past=1 is true');


# ---- GET /api/conferences/{slug}

$r = $t->get_json('/api/conferences/scottish-summit-2026');
is($r->{status}, 200, 'detail: status');
my $d = obj($r->{json});
is_deeply([sort keys %$d],
          [sort(@conf_fields, qw(tracks levels rooms days))],
          'detail: fields');
is($d->{slug}, 'scottish-summit-2026', 'detail: slug');
is($d->{name}, 'Scottish Summit 2026', 'detail: name');
is($d->{timezone}, 'Europe/London', 'detail: timezone');
is($d->{session_count}, 61, 'detail: session_count');
is_deeply([map { $_->{name} } @{ arr($d->{tracks}) }],
          ['Azure', 'Copilot + Agents', 'Dynamics & Power Platform',
           'Inclusion & Personal Development', 'M365', 'Security'],
          'detail: tracks by name');
my $sum = 0;
$sum += $_->{sessions} // 0 for @{ arr($d->{tracks}) };
is($sum, 61, 'detail: track session counts add up to session_count');
is((grep { $_->{name} eq 'Copilot + Agents' } @{ arr($d->{tracks}) })[0]{sessions},
   21, 'detail: Copilot + Agents has 21 sessions');
is_deeply($d->{levels}, ['Introductory', 'Intermediate', 'Advanced'],
          'detail: levels in order');
is_deeply($d->{days}, ['2026-10-02', '2026-10-03'], 'detail: days');
is(scalar @{ arr($d->{rooms}) }, 7, 'detail: 7 rooms');

$r = $t->get_json('/api/conferences/pycon-au-2024');
$d = obj($r->{json});
is_deeply($d->{days}, ['2024-11-22', '2024-11-23', '2024-11-24'],
          'pycon au detail: days in the conference time zone');
is($d->{timezone}, 'Australia/Melbourne', 'pycon au detail: timezone');

$r = $t->get_json('/api/conferences/31c3');
is($r->{status}, 200, 'past conference detail is served');
$d = obj($r->{json});
is_deeply([@{ arr($d->{days}) }[0, -1]], ['2014-12-27', '2014-12-30'],
          '31c3 detail: first and last day');

$r = $t->get_json('/api/conferences/scottish-summit-2026/');
is($r->{status}, 200, 'detail with a trailing slash');


# ---- unknown slug

$r = $t->get_json('/api/conferences/no-such-conf');
is($r->{status}, 404, 'unknown slug: 404');
like($r->{headers}{'content-type'} // '', qr{^application/json\b}i,
     'unknown slug: JSON');
my $e = err($r);
is($e->{code}, 'not_found', 'unknown slug: code');
is($e->{status}, 404, 'unknown slug: status in body');
like($e->{message} // '', qr/no-such-conf/, 'unknown slug: message names it');
my $hint = $e->{hint} // '';
is_deeply([grep { index($hint, $_) < 0 } map { $_->{slug} } @samples], [],
          'unknown slug: hint lists every valid slug');


# ---- bad include_past

$r = $t->get_json('/api/conferences?include_past=maybe');
is($r->{status}, 400, 'include_past=maybe: 400');
$e = err($r);
is($e->{code}, 'bad_parameter', 'include_past=maybe: code');
like($e->{message} // '', qr/include_past/, 'include_past=maybe: message');


# ---- HEAD

my $g = $t->http('GET', '/api/conferences?include_past=true');
$r = $t->http('HEAD', '/api/conferences?include_past=true');
is($r->{status}, 200, 'HEAD list: 200');
is($r->{body}, '', 'HEAD list: no body');
is($r->{headers}{'content-length'}, $g->{headers}{'content-length'},
   'HEAD list: Content-Length of the GET');

$r = $t->http('HEAD', '/api/conferences/no-such-conf');
is($r->{status}, 404, 'HEAD unknown slug: 404 without a body');




# ------------------------------------------------------------------ helpers

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
