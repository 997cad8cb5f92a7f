#!/usr/bin/perl

# Organizers and their API keys (issue 10): the admin endpoints (behind the
# admin key) create an organizer, link a conference, issue and revoke keys;
# GET /api/organizer says who the key belongs to, its conferences and its
# keys (prefix, created, last used; never a secret); a key works as
# X-API-Key and as Authorization: Bearer; rotation revokes the old key;
# missing, wrong, malformed and revoked keys are 401 with WWW-Authenticate
# and a message; a key never works for another organizer's conference
# (the same 404 as a conference that does not exist); keys are stored as
# SHA-256 hashes only and never written to the logs.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use Test::More;

use ConfHaven::Test;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->plan(58);

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";

server {
    listen 127.0.0.1:%%PORT_1%%;

    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF
$t->run();

for (['scottish-summit-2026', 'sessionize-all_scottish-summit-2026.json',
      'Scottish Summit 2026', 'Europe/London'],
     ['qa-or-the-highway-2026', 'sessionize-all_qa-or-the-highway-2026.json',
      'QA or the Highway 2026', 'America/New_York'])
{
    my $r = $t->import_file($_->[0], $_->[1], name => $_->[2],
                            timezone => $_->[3]);
    is($r->{status}, 200, "import $_->[0]");
}

my $admin = ['Authorization' => 'Bearer ' . $t->admin_key];

sub req {
    my ($method, $path, @h) = @_;
    return $t->http($method, $path, headers => [@h]);
}

# ---- admin endpoints need the admin key

my $r = req('POST', '/api/admin/organizers?name=Nobody');
is($r->{status}, 401, 'create organizer without the admin key: 401');
like($r->{headers}{'www-authenticate'} // '', qr/^Bearer realm="confhaven-admin"/,
     '... with WWW-Authenticate');
$r = req('POST', '/api/admin/organizers?name=Nobody', 'X-API-Key' => 'wrong');
is($r->{status}, 401, 'a wrong admin key: 401');

$r = req('POST', '/api/admin/organizers?name=Scottish%20Org', @$admin);
is($r->{status}, 201, 'create organizer A: 201');
my $a_id = $r->{json}{id};
ok($a_id, '... has an id');
is($r->{json}{name}, 'Scottish Org', '... and its name');

$r = req('POST', '/api/admin/organizers?name=QA%20Org&tier=pro', @$admin);
my $b_id = $r->{json}{id};
is($r->{json}{tier}, 'pro', 'create organizer B (tier pro)');

$r = req('POST', '/api/admin/organizers', @$admin);
is($r->{status}, 400, 'an organizer needs a name: 400');
$r = req('POST', '/api/admin/organizers?name=X&tier=gold', @$admin);
is($r->{status}, 400, 'unknown tier: 400');
like($r->{json}{error}{message} // '', qr/tier/, '... says so');

$r = req('POST', "/api/admin/organizers/$a_id/conferences/scottish-summit-2026",
         @$admin);
is($r->{status}, 200, 'link A to scottish-summit-2026');
is_deeply([map { $_->{slug} } @{ $r->{json}{conferences} }],
          ['scottish-summit-2026'], '... its conferences');
$r = req('POST', "/api/admin/organizers/$b_id/conferences/qa-or-the-highway-2026",
         @$admin);
is($r->{status}, 200, 'link B to qa-or-the-highway-2026');
$r = req('POST', "/api/admin/organizers/$a_id/conferences/no-such-conf", @$admin);
is($r->{status}, 404, 'link to an unknown conference: 404');
$r = req('POST', '/api/admin/organizers/99999/conferences/scottish-summit-2026',
         @$admin);
is($r->{status}, 404, 'link an unknown organizer: 404');

$r = req('POST', "/api/admin/organizers/$a_id/keys?label=laptop", @$admin);
is($r->{status}, 201, 'issue a key for A: 201');
my $ka = $r->{json}{key} // '';
like($ka, qr/^chk_[0-9a-f]{12}_[0-9a-f]{48}$/, '... shown once, in full');
my ($pa) = $ka =~ /^chk_([0-9a-f]{12})_/;
is($r->{json}{prefix}, $pa, '... with its prefix');

$r = req('POST', "/api/admin/organizers/$a_id/keys?label=ci", @$admin);
my $ka2 = $r->{json}{key} // '';
isnt($ka2, $ka, 'a second key for A');

$r = req('POST', "/api/admin/organizers/$b_id/keys", @$admin);
my $kb = $r->{json}{key} // '';
like($kb, qr/^chk_/, 'a key for B');

# stored as hashes only
my $rows = $t->psql("SELECT prefix || ' ' || encode(key_hash, 'hex') "
                    . "FROM confhaven.api_keys ORDER BY id");
like($rows, qr/^$pa \Q${\ sha256_hex($ka)}\E$/m, 'the row holds the SHA-256 of the key');
unlike($rows, qr/\Q${\ substr($ka, 17)}\E/, 'the secret is not stored');

# ---- the organizer's own endpoints

$r = req('GET', '/api/organizer', 'X-API-Key' => $ka);
is($r->{status}, 200, 'GET /api/organizer with X-API-Key');
is($r->{json}{name}, 'Scottish Org', '... who am I');
is_deeply([map { $_->{slug} } @{ $r->{json}{conferences} }],
          ['scottish-summit-2026'], '... my conferences');
is_deeply([map { $_->{prefix} } @{ $r->{json}{keys} }],
          [$pa, substr($ka2, 4, 12)], '... my keys, by prefix');
ok(defined $r->{json}{keys}[0]{last_used_at}, '... last used is set');
unlike($r->{body}, qr/\Q${\ substr($ka, 17)}\E/, '... and no secret');

$r = req('GET', '/api/organizer', 'Authorization' => "Bearer $ka2");
is($r->{status}, 200, 'Authorization: Bearer works too');

for ([ 'no key', [] ],
     [ 'a wrong key', ['X-API-Key' => 'chk_' . $pa . '_' . ('0' x 48)] ],
     [ 'a malformed key', ['X-API-Key' => 'hello'] ],
     [ 'a wrong scheme', ['Authorization' => "Basic $ka"] ])
{
    $r = req('GET', '/api/organizer', @{ $_->[1] });
    is($r->{status}, 401, "$_->[0]: 401");
    like($r->{headers}{'www-authenticate'} // '',
         qr/^Bearer realm="confhaven-organizer"/, "... WWW-Authenticate");
}
like($r->{json}{error}{message} // '', qr/key/, 'the 401 says what is missing');
like($r->{json}{error}{hint} // '', qr/X-API-Key/, '... and how to send it');

$r = req('GET', '/api/organizer?api_key=chk_000000000000_' . ('1' x 48));
is($r->{status}, 400, 'a key in the URL is refused');

# ---- cross-tenant: another organizer's conference reads as nonexistent

$r = req('GET', '/api/organizer/analytics?conference=qa-or-the-highway-2026',
         'X-API-Key' => $ka);
is($r->{status}, 404, "A asks for B's conference: 404");
my $other = $r->{json}{error}{message};
$r = req('GET', '/api/organizer/analytics?conference=no-such-conference',
         'X-API-Key' => $ka);
is($r->{status}, 404, 'A asks for a conference that does not exist: 404');
(my $norm = $other // '') =~ s/qa-or-the-highway-2026/X/;
(my $norm2 = $r->{json}{error}{message} // '') =~ s/no-such-conference/X/;
is($norm, $norm2, '... the same answer both ways');
$r = req('GET', '/api/organizer/analytics?conference=scottish-summit-2026',
         'X-API-Key' => $kb);
is($r->{status}, 404, "B asks for A's conference: 404");
$r = req('GET', '/api/organizer/analytics?conference=scottish-summit-2026',
         'X-API-Key' => $ka);
is($r->{status}, 200, 'A asks for its own conference: 200');

# ---- rotation and revocation

$r = req('POST', '/api/organizer/keys/rotate', 'X-API-Key' => $ka);
is($r->{status}, 201, 'rotate: 201');
my $ka3 = $r->{json}{key} // '';
like($ka3, qr/^chk_[0-9a-f]{12}_[0-9a-f]{48}$/, '... a new key');
is($r->{json}{label}, 'laptop', '... with the old label');
$r = req('GET', '/api/organizer', 'X-API-Key' => $ka);
is($r->{status}, 401, 'the rotated key no longer works');
$r = req('GET', '/api/organizer', 'X-API-Key' => $ka3);
is($r->{status}, 200, 'the new key works');

$r = req('DELETE', "/api/admin/organizers/$a_id/keys/" . substr($ka2, 4, 12),
         @$admin);
is($r->{status}, 200, 'revoke a key (admin)');
$r = req('GET', '/api/organizer', 'X-API-Key' => $ka2);
is($r->{status}, 401, 'the revoked key: 401');
$r = req('DELETE', "/api/admin/organizers/$b_id/keys/" . substr($ka3, 4, 12),
         @$admin);
is($r->{status}, 404, "revoking A's key as B's: 404");
$r = req('GET', '/api/organizer', 'X-API-Key' => $ka3);
is($r->{status}, 200, '... and it still works');

$r = req('DELETE', '/api/organizer', 'X-API-Key' => $ka3);
is($r->{status}, 405, 'a wrong method: 405');

# ---- no key in the logs (debug lines are nginx's own header dump)

$t->stop();
my $logs = join '', grep { !/\[debug\]/ }
    split /^/, ($t->read_file('access.log') // '') . $t->error_log;
my @secrets = map { substr($_, 17) } $ka, $ka2, $ka3, $kb;
ok(!(grep { index($logs, $_) >= 0 } @secrets), 'no key in the access or error log');
