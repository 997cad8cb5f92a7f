#!/usr/bin/perl

# One operation, one canonical key, one cache entry: the same question
# asked through REST and through an MCP tool (in any spelling the
# operation folds: defaults left out or given, blanks, letter case of a
# slug, "020" for 20) is one entry.  The second asker gets a HIT, whichever
# front end asked first; a warm MCP call (the result cached as sent)
# answers exactly what the cold one did.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;

use ConfHaven::Test;
use ConfHaven::MCP;

my $SLUG = 'scottish-summit-2026';
my $FILE = 'sessionize-all_scottish-summit-2026.json';

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->worker_processes(1);
$t->private_redis();
$t->plan(17);

$t->db();

$t->write_conf(<<'EOF2');
confhaven_pg_server "%%DSN%%";
confhaven_redis_server redis://%%REDIS%%;
server {
    listen 127.0.0.1:%%PORT_1%%;
    add_header X-Cache-Status $confhaven_cache_status always;
    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
        client_max_body_size 32m;
        client_body_buffer_size 32m;
    }
    location = /mcp {
        confhaven_mcp on;
    }
}
EOF2
$t->run();

is($t->import_file($SLUG, $FILE, timezone => 'Europe/London',
                   name => 'Scottish Summit 2026')->{status}, 200, 'import');

my $m = ConfHaven::MCP->new($t, path => '/mcp');

sub tool {
    my ($name, $args) = @_;
    my $r = $m->modern('tools/call', { name => $name, arguments => $args });
    my $res = ref $r->{json} eq 'HASH' ? $r->{json}{result} // {} : {};
    return ($r->{headers}{'x-cache-status'} // '', $res);
}

sub rest {
    my ($path) = @_;
    my $r = $t->get_json($path);
    return ($r->{headers}{'x-cache-status'} // '', $r);
}

# REST first, then MCP with the same question spelled differently
my ($c1, $r1) = rest("/api/sessions?q=copilot+agents&conference=$SLUG&include_past=true");
is($c1, 'MISS', 'REST search: MISS');
my ($c2, $res2) = tool('search_sessions', { query => '  copilot   agents ',
    conference => uc $SLUG, include_past => JSON::PP::true(), limit => 20 });
is($c2, 'HIT', 'the same search over MCP: HIT on the entry REST left');
ok(!$res2->{isError}, 'MCP search: a result');
is_deeply([ map { $_->{id} } @{ $res2->{structuredContent}{sessions} // [] } ],
          [ map { $_->{id} } @{ $r1->{json}{sessions} // [] } ],
          'the same sessions as REST');
ok(!exists $res2->{structuredContent}{facets}, 'no REST facets in the tool result');

# the warm MCP call: the result as sent, identical
my ($c3, $res3) = tool('search_sessions', { query => 'copilot agents',
    conference => $SLUG, include_past => 'true', limit => '020' });
is($c3, 'HIT', 'warm MCP search: HIT');
is_deeply($res3, $res2, 'warm MCP result is the cold one, byte for byte in JSON');

# MCP first, then REST
my ($c4) = tool('search_sessions', { query => 'kubernetes', include_past => JSON::PP::true() });
is($c4, 'MISS', 'MCP search: MISS');
my ($c5, $r5) = rest('/api/sessions?include_past=1&q=kubernetes&limit=20');
is($c5, 'HIT', 'the same search over REST: HIT on the entry MCP left');
is($r5->{status}, 200, 'REST: 200');

# REST first, then the same search in a 2025-11-25 session (Mcp-Session-Id)
my ($c4s) = rest('/api/sessions?q=observability&include_past=true');
my $h = ConfHaven::MCP->new($t, path => '/mcp');
my ($sid) = $h->initialize('2025-11-25');
my $rs = $h->request('tools/call', { name => 'search_sessions',
                                     arguments => { query => 'observability',
                                                    include_past => JSON::PP::true() } },
                     session => $sid, version => '2025-11-25');
is("$c4s " . ($rs->{headers}{'x-cache-status'} // ''), 'MISS HIT',
   'REST search, then the same in an MCP session: HIT');
ok(ref $rs->{json} eq 'HASH' && !$rs->{json}{result}{isError}, 'a result in the session');

# documents: get_session and list_conferences
my $id = $r1->{json}{sessions}[0]{id};
my ($c6) = rest("/api/sessions/$id");
my ($c7, $res7) = tool('get_session', { session_id => $id });
is("$c6 $c7", 'MISS HIT', 'get_session: REST then MCP is one entry');
is($res7->{structuredContent}{id}, $id, 'get_session: the session');

my ($c8) = tool('list_conferences', {});
my ($c9, $r9) = rest('/api/conferences?include_past=false');
is("$c8 $c9", 'MISS HIT', 'list_conferences: MCP then REST is one entry');

# an import forgets both the answer and the result cached as sent
$t->import_file($SLUG, $FILE, timezone => 'Europe/London', name => 'Scottish Summit 2026');
my ($c10) = tool('search_sessions', { query => 'copilot agents',
    conference => $SLUG, include_past => JSON::PP::true() });
is($c10, 'MISS', 'after an import: MISS again');
