#!/usr/bin/perl

# MCP Apps (io.modelcontextprotocol/ui, ext-apps 2026-01-26): the session
# cards resource ui://confhaven/session-cards, linked from search_sessions
# and get_session through _meta.ui.resourceUri, offered only to a client
# that announces the extension: in initialize (Streamable HTTP session,
# legacy /sse) or in the request's _meta (2026-07-28).  A client that does
# not sees exactly what it saw before: no extension in the server's
# capabilities, no _meta.ui on any tool, no ui:// resource, and reading it
# is "not found".

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;

use ConfHaven::Test;
use ConfHaven::MCP;

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->plan(55);

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";

server {
    listen 127.0.0.1:%%PORT_1%%;

    location = /mcp {
        confhaven_mcp on;
    }

    location /sse {
        confhaven_mcp_sse on;
    }

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

my $URI = 'ui://confhaven/session-cards';
my $MIME = 'text/html;profile=mcp-app';
my $EXT = 'io.modelcontextprotocol/ui';
my $UI = { extensions => { $EXT => { mimeTypes => [ $MIME ] } } };
my $host = '127.0.0.1:' . $t->port(1);

my $m = ConfHaven::MCP->new($t);

sub session {
    my ($caps) = @_;
    my $r = $m->request('initialize', {
        protocolVersion => '2025-11-25', capabilities => $caps,
        clientInfo => { name => 'host', version => '1' } }, host => $host);
    my $sid = $r->{headers}{'mcp-session-id'};
    $m->notify('notifications/initialized', undef, session => $sid,
               version => '2025-11-25', host => $host);
    return ($sid, $r->{json}{result});
}

sub call {
    my ($sid, $method, $params) = @_;
    my $r = $m->request($method, $params, session => $sid,
                        version => '2025-11-25', host => $host);
    return $r->{json};
}

sub linked {
    my ($tools) = @_;
    return { map { $_->{name} => $_->{_meta}{ui}{resourceUri} }
             grep { $_->{_meta} && $_->{_meta}{ui} } @{ $tools // [] } };
}

sub ui_resources {
    my ($list) = @_;
    return grep { ($_->{uri} // '') =~ /^ui:/ } @{ $list // [] };
}

# ---- Streamable HTTP: a client without the extension
my ($plain, $init) = session({});
ok($plain, 'a plain client gets a session');
ok(!exists $init->{capabilities}{extensions},
   'plain: no extensions in the server capabilities');
my $tools = call($plain, 'tools/list')->{result}{tools};
is(scalar keys %{ linked($tools) }, 0, 'plain: no tool has _meta.ui');
ok(!grep({ exists $_->{_meta} } @$tools), 'plain: no tool has _meta at all');
my $res = call($plain, 'resources/list')->{result}{resources};
is(scalar(ui_resources($res)), 0, 'plain: no ui:// resource listed');
ok(scalar @$res >= 1, 'plain: the conference resources are still listed');
my $read = call($plain, 'resources/read', { uri => $URI });
ok($read->{error} && !$read->{result},
   'plain: reading the ui:// resource is an error (not found), as before');
my $sr = call($plain, 'tools/call', { name => 'search_sessions',
                                      arguments => { query => 'azure',
                                                     include_past => JSON::PP::true,
                                                     limit => 2 } });
ok(!exists $sr->{result}{_meta}, 'plain: the search result has no _meta');

# ---- Streamable HTTP: a client that announces MCP Apps
my ($apps, $ainit) = session($UI);
ok($apps, 'an MCP Apps host gets a session');
is_deeply($ainit->{capabilities}{extensions},
          { $EXT => { mimeTypes => [ $MIME ] } },
          'apps: the server announces the extension back');
$tools = call($apps, 'tools/list')->{result}{tools};
is_deeply(linked($tools), { search_sessions => $URI, get_session => $URI },
          'apps: search_sessions and get_session link the cards');
$res = call($apps, 'resources/list')->{result}{resources};
my ($ui) = ui_resources($res);
is($ui->{uri}, $URI, 'apps: the cards are listed');
is($ui->{mimeType}, $MIME, 'apps: as text/html;profile=mcp-app');
$read = call($apps, 'resources/read', { uri => $URI });
my $c = $read->{result}{contents}[0] // {};
is($c->{uri}, $URI, 'apps: resources/read answers the cards');
is($c->{mimeType}, $MIME, 'apps: with the MCP Apps MIME type');
like($c->{text} // '', qr/^<!doctype html>/i, 'apps: a full HTML document');
is_deeply($c->{_meta}{ui}{csp}, { connectDomains => [],
                                  resourceDomains => [ "http://$host" ] },
          'apps: its own CSP: this origin for its files, no network');
my @inline = ($c->{text} // '') =~ /<script(?![^>]*\bsrc=)[^>]*>/gi;
is(scalar @inline, 0, 'apps: no inline script');
my @src = ($c->{text} // '') =~ /<script[^>]*\bsrc="([^"]+)"/gi;
ok(@src && !grep({ index($_, "http://$host/") != 0 } @src),
   'apps: its script comes from the declared origin only');
ok(($c->{text} // '') !~ /\bstyle=|<style/i, 'apps: no inline style');
$sr = call($apps, 'tools/call', { name => 'search_sessions',
                                  arguments => { query => 'azure',
                                                 include_past => JSON::PP::true,
                                                 limit => 2 } });
ok(!$sr->{result}{isError} && @{ $sr->{result}{content} // [] }
   && $sr->{result}{structuredContent}{sessions},
   'apps: the tool result still has its text and structured content');

# the two sessions are independent: the plain one still sees nothing
$tools = call($plain, 'tools/list')->{result}{tools};
is(scalar keys %{ linked($tools) }, 0,
   'plain again (after an apps session): no _meta.ui');

# a host with another UI type only is not an MCP Apps client
my ($other) = session({ extensions => { $EXT => { mimeTypes => ['text/x-other'] } } });
$tools = call($other, 'tools/list')->{result}{tools};
is(scalar keys %{ linked($tools) }, 0, 'other MIME types only: no _meta.ui');
# and a malformed announcement changes nothing either
my ($odd) = session({ extensions => { $EXT => 'yes' } });
$tools = call($odd, 'tools/list')->{result}{tools};
is(scalar keys %{ linked($tools) }, 0, 'a malformed announcement: no _meta.ui');

# a Host header that is not a plain name: no origin goes into the document
$r = $m->request('resources/read', { uri => $URI }, session => $apps,
                 version => '2025-11-25', host => 'localhost');
$c = $r->{json}{result}{contents}[0] // {};
like($c->{text} // '', qr{src="http://localhost/assets/mcp-app\.js"},
     'apps: the document names the origin the client used');

# ---- the 2026-07-28 wire: per request
my $plain26 = $m->modern('tools/list', {}, host => $host)->{json}{result}{tools};
is(scalar keys %{ linked($plain26) }, 0, '2026 plain: no _meta.ui');
my $disc = $m->modern('server/discover', {}, host => $host)->{json}{result};
ok(!exists $disc->{capabilities}{extensions}, '2026 plain: no extension in discover');
my $r26 = $m->modern('resources/read', { uri => $URI }, host => $host);
ok($r26->{json}{error}, '2026 plain: the ui:// resource is not found');

my $meta = $m->meta('io.modelcontextprotocol/clientCapabilities' => $UI);
my $apps26 = $m->modern('tools/list', { _meta => $meta }, host => $host)
    ->{json}{result}{tools};
is_deeply(linked($apps26), { search_sessions => $URI, get_session => $URI },
          '2026 apps: the two tools link the cards');
$disc = $m->modern('server/discover', { _meta => $meta }, host => $host)
    ->{json}{result};
ok($disc->{capabilities}{extensions}{$EXT}, '2026 apps: discover announces it');
$res = $m->modern('resources/list', { _meta => $meta }, host => $host)
    ->{json}{result}{resources};
is(scalar(ui_resources($res)), 1, '2026 apps: the cards are listed');
$r26 = $m->modern('resources/read', { uri => $URI, _meta => $meta },
                  host => $host);
is($r26->{json}{result}{contents}[0]{mimeType}, $MIME,
   '2026 apps: resources/read answers the cards');
ok(defined $r26->{json}{result}{ttlMs}, '2026 apps: with cache hints');

# cache hints (MCP-TRANSPORTS.md 3.5): an answer that depends on what the
# client announced may not be shared with another client ("public" lets a
# shared cache hand the cards to a client that did not ask, or hide them
# from a host that did): private, for both variants; one that does not
# depend on it stays public
for my $who ([ plain => {} ], [ apps => { _meta => $meta } ]) {
    for my $method ('server/discover', 'tools/list', 'resources/list') {
        my $res = $m->modern($method, { %{ $who->[1] } }, host => $host)
            ->{json}{result} // {};
        is($res->{cacheScope}, 'private',
           "2026 $who->[0]: $method is cacheScope private (it differs per client)");
    }
}
is($r26->{json}{result}{cacheScope}, 'private',
   '2026 apps: the cards resource is cacheScope private');
is($m->modern('resources/templates/list', {}, host => $host)
       ->{json}{result}{cacheScope}, 'public',
   '2026: resources/templates/list (the same for everybody) stays public');

# ---- legacy HTTP+SSE: the announcement in initialize is kept with the stream
my $sse = ConfHaven::MCP->new($t, path => '/sse');

sub sse_client {
    my ($caps) = @_;
    my $s = $sse->open_stream('GET', '/sse',
                              headers => [ Accept => 'text/event-stream' ],
                              host => $host);
    $sse->read_until($s, sub { my @e = $sse->events($_[0]{body}); @e >= 1 }, 5);
    my ($ep) = $sse->events($sse->response($s)->{body});
    my $url = $ep->{data};
    my $n = 0;
    my $ask = sub {
        my ($method, $params) = @_;
        my $id = 100 + ++$n;
        $t->post_json($url, { jsonrpc => '2.0', id => $id, method => $method,
                              ($params ? (params => $params) : ()) },
                      host => $host);
        $sse->read_until($s, sub {
            grep { ($_->{json}{id} // -1) == $id }
                 $sse->events($_[0]{body}) }, 5);
        my ($msg) = grep { ($_->{json}{id} // -1) == $id }
                         $sse->events($sse->response($s)->{body});
        return $msg ? $msg->{json} : {};
    };
    my $i = $ask->('initialize', { protocolVersion => '2024-11-05',
                                   capabilities => $caps,
                                   clientInfo => { name => 'h', version => '1' } });
    $t->post_json($url, { jsonrpc => '2.0', method => 'notifications/initialized' },
                  host => $host);
    return ($s, $ask, $i->{result});
}

my ($s1, $ask1, $i1) = sse_client({});
ok($i1 && !exists $i1->{capabilities}{extensions}, 'sse plain: no extension');
is(scalar keys %{ linked($ask1->('tools/list')->{result}{tools}) }, 0,
   'sse plain: no _meta.ui');
ok($ask1->('resources/read', { uri => $URI })->{error},
   'sse plain: the ui:// resource is not found');
close $s1->{sock};

my ($s2, $ask2, $i2) = sse_client($UI);
ok($i2 && $i2->{capabilities}{extensions}{$EXT}, 'sse apps: the extension is announced back');
is_deeply(linked($ask2->('tools/list')->{result}{tools}),
          { search_sessions => $URI, get_session => $URI },
          'sse apps: the two tools link the cards');
is(scalar(ui_resources($ask2->('resources/list')->{result}{resources})), 1,
   'sse apps: the cards are listed');
is($ask2->('resources/read', { uri => $URI })->{result}{contents}[0]{mimeType},
   $MIME, 'sse apps: and read');
close $s2->{sock};

# ---- the files the document loads are served by the web pages' snippet
# (not configured here: the API answers); the snippet itself is checked
# by t/web_pages.t and t/web_organizer.t
ok(-f "$FindBin::Bin/../html/assets/mcp-app.js", 'html/assets/mcp-app.js exists');
ok(-f "$FindBin::Bin/../html/assets/mcp-app.css", 'html/assets/mcp-app.css exists');
open(my $fh, '<', "$FindBin::Bin/../html/assets/mcp-app.js") or die $!;
my $js = do { local $/; <$fh> };
close $fh;
ok($js !~ /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/,
   'mcp-app.js never parses data as HTML or code');
like($js, qr{ui/initialize}, 'mcp-app.js opens with ui/initialize');
like($js, qr{ui/notifications/tool-result}, 'mcp-app.js renders tool results');
like($js, qr{\.ics}, 'mcp-app.js links the .ics files');

$t->done_testing();
