#!/usr/bin/perl

# A question is read by its first 32 words (issue 13, review finding 8):
# each word costs synonym, vocabulary and match work, so a long string of
# random words held a database connection for a second or more.  The words
# past the 32nd are reported in interpretation.ignored.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()
    ->worker_processes(1)->plan(5);

$t->write_conf(<<'EOF2');
confhaven_pg_server "%%DSN%%";

server {
    listen 127.0.0.1:%%PORT_1%%;

    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF2
$t->run();

my $r = $t->import_file('scottish-summit-2026',
                        'sessionize-all_scottish-summit-2026.json',
                        name => 'Scottish Summit 2026',
                        timezone => 'Europe/London');
is($r->{status}, 200, 'import');

# 40 distinct made-up words; "copilot" is the 3rd
my @w = map { 'zq' . join('', map { chr(97 + ($_ * 7 + $_ ** 2) % 26) } 1 .. 4) . $_ }
        1 .. 40;
$w[2] = 'copilot';

$r = $t->get_json('/api/sessions?include_past=true&q=' . join('+', @w));
is($r->{status}, 200, 'a 40-word question: 200');
my $ign = $r->{json}{interpretation}{ignored} // [];
is_deeply([ @$ign[-8 .. -1] ], [ @w[32 .. 39] ],
          'the words past the 32nd are reported as ignored')
    or diag(explain($r->{json}{interpretation}));
ok(!grep({ $_ eq $w[31] } @$ign), 'the 32nd word is read');
my %words = map { $_ => 1 } @{ $r->{json}{interpretation}{words} // [] };
ok($words{copilot} && !$words{$w[35]},
   'interpretation.words: the first 32, not the rest')
    or diag(explain($r->{json}{interpretation}));
