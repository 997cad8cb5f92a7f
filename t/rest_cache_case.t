#!/usr/bin/perl

# The cache key and the query get the same canonical values, parameter by
# parameter: slugs, enums and cursors are lower-cased (variants in letter
# case share an entry and the answer quotes the canonical spelling); text
# the answer echoes as given (q, track, speaker, room) is keyed exactly, so
# that a caller never gets the spelling (or the error text) of whoever
# asked first.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;

my $Y = 'scottish-summit-2026';

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->worker_processes(1);
$t->private_redis();
$t->plan(20);

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";
confhaven_redis_server redis://%%REDIS%%;

server {
    listen 127.0.0.1:%%PORT_1%%;
    add_header X-Cache-Status $confhaven_cache_status always;

    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF
$t->run();

my $r = $t->import_file($Y, 'sessionize-all_scottish-summit-2026.json',
                        name => 'Scottish Summit 2026', timezone => 'Europe/London');
is($r->{status}, 200, 'import');

sub get {
    my ($path) = @_;
    my $r = $t->get_json($path);
    $r->{cs} = $r->{headers}{'x-cache-status'} // '';
    $r->{q} = ref $r->{json} eq 'HASH' && ref $r->{json}{query} eq 'HASH'
              ? $r->{json}{query} : {};
    return $r;
}

# q: echoed as given, keyed exactly
my $a = get("/api/sessions?q=Azure&conference=$Y&include_past=true");
is("$a->{status} $a->{cs}", '200 MISS', 'q=Azure: MISS');
is($a->{q}{q}, 'Azure', 'q=Azure: echoed as given');
my $b = get("/api/sessions?q=AZURE&conference=$Y&include_past=true");
is($b->{q}{q}, 'AZURE', 'q=AZURE: its own spelling, not the first caller\'s');
is($b->{cs}, 'MISS', 'q=AZURE: another entry');
is(scalar @{$b->{json}{sessions} // []}, scalar @{$a->{json}{sessions} // []},
   'the same sessions (the search ignores case)');
is(get("/api/sessions?q=AZURE&conference=$Y&include_past=true")->{cs}, 'HIT',
   'q=AZURE again: HIT');

# speaker and track: echoed as given
get("/api/sessions?speaker=smi&include_past=true");
$b = get("/api/sessions?speaker=SMI&include_past=true");
is($b->{q}{speaker}, 'SMI', 'speaker=SMI after speaker=smi: echoed as given');
get("/api/sessions?track=copilot+%2B+agents&conference=$Y&include_past=true");
$b = get("/api/sessions?track=Copilot+%2B+Agents&conference=$Y&include_past=true");
is($b->{q}{track}, 'Copilot + Agents', 'track: echoed as given');

# conference, level, day, language: canonical, one entry
$a = get("/api/sessions?q=azure&conference=$Y&level=advanced&include_past=true");
is($a->{cs}, 'MISS', 'lower-case slug and level: MISS');
$b = get('/api/sessions?q=azure&conference=' . uc($Y) . '&level=ADVANCED&include_past=TRUE');
is($b->{cs}, 'HIT', 'upper-case slug, level and boolean: HIT');
is($b->{q}{conference}, $Y, 'the slug echoed canonical');
is($b->{q}{level}, 'Advanced', 'the level echoed canonical');
is($b->{body}, $a->{body}, 'the same body');

# an unknown conference: the message quotes the canonical (lower-case) text
$a = get('/api/sessions?conference=No-Such-Conf-2031');
is($a->{status}, 400, 'unknown conference: 400');
like($a->{json}{error}{message} // '', qr/no-such-conf-2031/,
     'the message quotes the slug as it was looked up');

# cursors are hex: case does not matter
$a = get("/api/sessions?q=azure&conference=$Y&include_past=true&limit=2");
my $cur = $a->{json}{next_cursor} // '';
ok($cur =~ /^[0-9a-f]+$/, 'a next_cursor');
my $p2 = get("/api/sessions?q=azure&conference=$Y&include_past=true&cursor=$cur");
is($p2->{status}, 200, 'page 2');
my $p2u = get("/api/sessions?q=azure&conference=$Y&include_past=true&cursor=" . uc $cur);
is($p2u->{cs}, 'HIT', 'page 2 with the cursor in upper case: HIT');
is($p2u->{body}, $p2->{body}, 'the same page');
