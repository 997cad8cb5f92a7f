#!/usr/bin/perl

# send_calendar_invite's configuration and the server without Graph:
# `nginx -t` rejects half a Graph configuration, Graph without a thread
# pool, a hash key, Redis or PostgreSQL, bad URLs and limits, each with a
# clear [emerg]; without Graph (as in `make run`) the REST route and the
# MCP tool send nothing and say so, with the session's .ics link; the
# hourly limits per recipient and per client answer 429 with Retry-After.

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();

use ConfHaven::Test;
use ConfHaven::MCP;
use ConfHaven::FakeGraph;

plan(skip_all => 'node is needed for the fake Graph')
    unless ConfHaven::FakeGraph->available;

my $t = ConfHaven::Test->new()->needs_module()->needs_pg();
# a Redis of this file's own: the limits count per client address, and
# other files' invites come from 127.0.0.1 too
$t->private_redis();
my $dir = $t->testdir;
my $J = JSON::PP->new->canonical;

$t->write_file('graph.secret', "fake-secret\n", 0600);
$t->write_file('invite.key', "test-invite-hash-key-0123456789\n", 0600);
$t->write_file('short.key', "short\n", 0600);

my %graph = (
    tenant => 'confhaven_graph_tenant contoso.onmicrosoft.com;',
    client => 'confhaven_graph_client_id 535fb089-9ff3-47b6-9bfb-4f1264799865;',
    secret => "confhaven_graph_client_secret_file $dir/graph.secret;",
    organizer => 'confhaven_graph_organizer sessions@conf.example.com;',
);
my $pool = 'confhaven_thread_pool graph;';
my $key = "confhaven_invite_hash_key_file $dir/invite.key;";
my $pg = 'confhaven_pg_server "host=127.0.0.1 port=1 dbname=confhaven user=confhaven";';
my $redis = 'confhaven_redis_server redis://127.0.0.1:1;';

sub conf {
    my ($http) = @_;
    return <<"EOF";
thread_pool graph threads=4;

http {
    $http

    server {
        listen 127.0.0.1:%%PORT_1%%;
        location / { confhaven_rest on; }
    }
}
EOF
}

sub bad {
    my ($name, $http, $re) = @_;
    $t->write_conf(conf($http));
    my ($rc, $out) = $t->test_config();
    isnt($rc, 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\][^\n]*$re/, "$name: says why") or diag($out);
}

my $all = join "\n", values %graph;

bad('half configured', "$pg $redis $pool $key $graph{tenant} $graph{client}",
    qr/half configured: "confhaven_graph_client_secret_file" is missing/);
bad('no thread pool', "$pg $redis $key $all", qr/run on a thread pool/);
bad('no hash key', "$pg $redis $pool $all", qr/needs "confhaven_invite_hash_key_file"/);
bad('short hash key', "$pg $redis $pool $all confhaven_invite_hash_key_file $dir/short.key;",
    qr/at least 16 characters/);
bad('no Redis', "$pg $pool $key $all", qr/needs "confhaven_redis_server"/);
bad('no PostgreSQL', "$redis $pool $key $all", qr/needs "confhaven_pg_server"/);
bad('organizer not a UPN', "$pg $redis $pool $key $graph{tenant} $graph{client} $graph{secret} "
    . 'confhaven_graph_organizer sessions;', qr/user principal name/);
bad('bad Graph URL', "$pg $redis $pool $key $all confhaven_graph_url ftp://x;",
    qr/"confhaven_graph_url" must be an http/);
bad('bad login URL', "$pg $redis $pool $key $all confhaven_graph_login_url x;",
    qr/"confhaven_graph_login_url" must be an http/);
bad('limit 0', "$pg $redis $pool $key $all confhaven_invite_limit_recipient 0;",
    qr/from 1 to 1000000/);
bad('unknown pool', "$pg $redis $key $all confhaven_thread_pool nosuch;",
    qr/unknown thread pool "nosuch"/);
bad('secret file missing', "$pg $redis $pool $key $graph{tenant} $graph{client} "
    . "confhaven_graph_client_secret_file $dir/nope; $graph{organizer}", qr/nope/);
bad('duplicate tenant', "$pg $redis $pool $key $all $graph{tenant}", qr/is duplicate/);

$t->write_conf(conf("$pg $redis $pool $key $all"));
ok(scalar $t->test_config(), 'complete: nginx -t passes');
$t->write_conf(conf("$pg $redis $key $all confhaven_thread_pool default;"));
ok(scalar $t->test_config(), 'nginx\'s default pool: nginx -t passes');
$t->write_conf(conf("$pg"));
ok(scalar $t->test_config(), 'no Graph at all: nginx -t passes');


# ---- without Graph, as in `make run`

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";
confhaven_redis_server redis://%%REDIS%%;

server {
    listen 127.0.0.1:%%PORT_1%%;
    location /mcp { confhaven_mcp on; }
    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}
EOF
$t->run();

my $r = $t->import_file('scottish-summit-2026',
                        'sessionize-all_scottish-summit-2026.json',
                        name => 'Scottish Summit 2026',
                        timezone => 'Europe/London');
is($r->{status}, 200, 'import');
my $sid = $t->psql("SELECT min(id) FROM confhaven.sessions WHERE start_at IS NOT NULL");

$r = $t->http('POST', "/api/sessions/$sid/invite", content_type => 'application/json',
              body => '{"user_email": "ada@example.org"}');
is($r->{status}, 200, 'not configured: 200');
is($r->{json}{status}, 'not_configured', 'not configured: status');
is($r->{json}{ics_url}, "http://localhost/api/sessions/$sid.ics", 'not configured: the .ics link');
like($r->{json}{message}, qr/not configured.*nothing was sent.*\.ics/s,
     'not configured: says so plainly');
ok(!exists $r->{json}{event_id}, 'not configured: no event');
is($t->psql('SELECT count(*) FROM confhaven.invites'), 0, 'not configured: nothing recorded');

$r = $t->http('POST', "/api/sessions/$sid/invite", content_type => 'application/json',
              body => '{"user_email": "not an address"}');
is($r->{status}, 400, 'not configured: a bad address is still refused');
$r = $t->http('POST', '/api/sessions/999999999/invite', content_type => 'application/json',
              body => '{"user_email": "ada@example.org"}');
is($r->{status}, 404, 'not configured: an unknown session is still 404');

my $m = ConfHaven::MCP->new($t);
$r = $m->modern('tools/call', { name => 'send_calendar_invite',
                  arguments => { session_id => $sid + 0, user_email => 'ada@example.org' } });
my $res = $r->{json}{result} // {};
is($res->{isError}, JSON::PP::false, 'MCP not configured: not an error');
is($res->{structuredContent}{status}, 'not_configured', 'MCP not configured: status');
like($res->{content}[0]{text}, qr/not configured.*nothing was sent.*\Q$sid.ics\E/s,
     'MCP not configured: says so, with the link');

my ($msid) = $m->initialize('2025-11-25');
$r = $m->request('tools/call', { name => 'send_calendar_invite',
                   arguments => { session_id => $sid + 0, user_email => 'ada@example.org' } },
                 session => $msid);
is($r->{json}{result}{structuredContent}{status}, 'not_configured',
   'MCP session wire: not_configured');
$t->stop;


# ---- the hourly limits, with Graph (a fake)

my $g = ConfHaven::FakeGraph->start($t, 9);
my $gconf = $g->conf;
$t->write_conf(<<"EOF");
thread_pool graph threads=4;

http {
    confhaven_pg_server "%%DSN%%";
    confhaven_redis_server redis://%%REDIS%%;
$gconf
    confhaven_invite_limit_recipient 2;
    confhaven_invite_limit_client 4;

    server {
        listen 127.0.0.1:%%PORT_1%%;
        location / { confhaven_rest on; }
    }
}
EOF
$t->run();

my @ids = split /\n/, $t->psql("SELECT id FROM confhaven.sessions WHERE start_at IS NOT NULL "
                               . "ORDER BY id LIMIT 6");
sub invite {
    my ($id, $email) = @_;
    return $t->http('POST', "/api/sessions/$id/invite", content_type => 'application/json',
                    body => $J->encode({ user_email => $email }));
}

is(invite($ids[0], 'lim@example.org')->{json}{status}, 'sent', 'limit: 1st to an address');
is(invite($ids[0], 'lim@example.org')->{json}{status}, 'already_sent', 'limit: a repeat does not count');
is(invite($ids[1], 'lim@example.org')->{json}{status}, 'sent', 'limit: 2nd to an address');
$r = invite($ids[2], 'LIM@example.org');
is($r->{status}, 429, 'limit: 3rd to an address: 429');
like($r->{json}{error}{message}, qr/this address has been sent 2 invites this hour/, 'limit: says why');
ok(($r->{headers}{'retry-after'} // 0) =~ /^\d+$/ && $r->{headers}{'retry-after'} <= 3600,
   'limit: Retry-After up to the next hour');
is(scalar @{$g->events}, 2, 'limit: nothing sent over the limit');
is(invite($ids[3], 'other@example.org')->{json}{status}, 'sent', 'client limit: 4th from the client');
$r = invite($ids[4], 'another@example.org');
is($r->{status}, 429, 'client limit: 5th from the client: 429');
like($r->{json}{error}{message}, qr/this client has asked for 4 invites this hour/,
     'client limit: says why');
is($t->psql("SELECT count(*) FROM confhaven.invites WHERE status = 'failed'"), 2,
   'limit: refused invites are not left pending');

$t->done_testing();
