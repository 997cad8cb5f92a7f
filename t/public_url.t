#!/usr/bin/perl

# The absolute URLs in answers (the URL of a session in its .ics, an
# invite's ics_url, the origin of the MCP Apps cards) behind a proxy:
# confhaven_public_url when set, else the request's own scheme and Host;
# X-Forwarded-Proto only under confhaven_trust_forwarded_proto on, and
# X-Forwarded-Host never (any client can send them).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;

use ConfHaven::Test;
use ConfHaven::MCP;

my $t = ConfHaven::Test->new()->needs_module()->needs_pg();

# ---- bad configuration is refused with the reason

sub bad {
    my ($name, $dir, $re) = @_;
    $t->write_conf(<<"EOF");
server {
    listen 127.0.0.1:%%PORT_1%%;
    $dir
    location / { confhaven_rest on; }
}
EOF
    my ($rc, $out) = $t->test_config();
    isnt($rc, 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\][^\n]*$re/, "$name: says why") or diag($out);
}

bad('not http(s)', 'confhaven_public_url ftp://conf.example.org;',
    qr/"confhaven_public_url" directive must start with https:\/\/ or http:\/\//);
bad('a path', 'confhaven_public_url https://conf.example.org/confhaven;',
    qr/must be an origin such as https:\/\/conf\.example\.org/);
bad('a user', 'confhaven_public_url https://u@conf.example.org;',
    qr/must be an origin/);
bad('no host', 'confhaven_public_url https://;', qr/needs a host name/);
bad('twice', 'confhaven_public_url https://a.example; '
    . 'confhaven_public_url https://b.example;', qr/is duplicate/);
bad('not a flag', 'confhaven_trust_forwarded_proto yes;', qr/invalid value "yes"/);

# ---- three servers: the default, trusting the proxy's scheme, a public URL

$t->write_conf(<<'EOF');
confhaven_pg_server "%%DSN%%";

server {
    listen 127.0.0.1:%%PORT_1%%;
    location = /mcp {
        confhaven_mcp on;
        confhaven_mcp_allowed_hosts api.example.net;
    }
    location / {
        confhaven_rest on;
        confhaven_admin_key_file %%ADMIN_KEY_FILE%%;
    }
}

server {
    listen 127.0.0.1:%%PORT_2%%;
    confhaven_trust_forwarded_proto on;
    location = /mcp {
        confhaven_mcp on;
        confhaven_mcp_allowed_hosts api.example.net;
    }
    location / { confhaven_rest on; }
}

server {
    listen 127.0.0.1:%%PORT_3%%;
    confhaven_public_url https://Conf.Example.org:8443/;
    location = /mcp {
        confhaven_mcp on;
        confhaven_mcp_allowed_hosts api.example.net;
    }
    location / { confhaven_rest on; }
}
EOF
$t->run();

my $r = $t->import_file('scottish-summit-2026',
                        'sessionize-all_scottish-summit-2026.json',
                        name => 'Scottish Summit 2026',
                        timezone => 'Europe/London');
is($r->{status}, 200, 'import');
my $sid = $t->psql('SELECT min(id) FROM confhaven.sessions '
                   . 'WHERE start_at IS NOT NULL');

# what a spoofing client (or a proxy) sends
my @spoof = ('X-Forwarded-Proto' => 'https',
             'X-Forwarded-Host' => 'evil.example');
my $HOST = 'api.example.net:8080';

my $URI = 'ui://confhaven/session-cards';
my $UI = { extensions => { 'io.modelcontextprotocol/ui' => {
    mimeTypes => [ 'text/html;profile=mcp-app' ] } } };

sub origins {
    my ($n, @h) = @_;
    my %got;

    my $r = $t->http('GET', "/api/sessions/$sid.ics", port => $n,
                     host => $HOST, headers => \@h);
    ($got{ics}) = ($r->{body} // '') =~ m{^URL:(\S+?)/api/sessions/$sid\r?$}m;

    $r = $t->http('POST', "/api/sessions/$sid/invite", port => $n,
                  host => $HOST, headers => \@h,
                  content_type => 'application/json',
                  body => '{"user_email": "ada@example.org"}');
    ($got{invite}) = ($r->{json}{ics_url} // '') =~ m{^(.*)/api/sessions/$sid\.ics$};

    my $m = ConfHaven::MCP->new($t, port => $n);
    my $meta = $m->meta('io.modelcontextprotocol/clientCapabilities' => $UI);
    $r = $m->modern('resources/read', { uri => $URI, _meta => $meta },
                    host => $HOST, headers => \@h);
    my $c = $r->{json}{result}{contents}[0] // {};
    $got{app} = join ' ', @{ $c->{_meta}{ui}{csp}{resourceDomains} // [] };
    ($got{app_doc}) = ($c->{text} // '') =~ /data-origin="([^"]*)"/;

    $r = $m->modern('resources/read',
                    { uri => "confhaven://sessions/$sid.ics", _meta => $meta },
                    host => $HOST, headers => \@h);
    ($got{mcp_ics}) = (($r->{json}{result}{contents}[0] // {})->{text} // '')
        =~ m{^URL:(\S+?)/api/sessions/$sid\r?$}m;

    return \%got;
}

sub all_are {
    my ($got, $want, $name) = @_;
    for my $k (qw(ics invite app app_doc mcp_ics)) {
        is($got->{$k}, $want, "$name: $k");
    }
}

# the default: the request's own scheme and Host; the forwarded headers
# are not reflected (a client could send them to make https:// or
# another host appear in links)
all_are(origins(1, @spoof), "http://$HOST",
        'default, X-Forwarded-Proto/Host sent: not reflected');
all_are(origins(1), "http://$HOST", 'default');

# confhaven_trust_forwarded_proto on: the scheme from the proxy, the Host
# still the request's (X-Forwarded-Host never)
all_are(origins(2, @spoof), "https://$HOST",
        'trusted X-Forwarded-Proto: https, the Host as sent');
all_are(origins(2, 'X-Forwarded-Proto' => 'https, http'), "https://$HOST",
        'trusted X-Forwarded-Proto: the first proxy\'s word');
all_are(origins(2), "http://$HOST", 'trusted, no header: http');

# confhaven_public_url: always that (its trailing "/" dropped), whatever
# the request says
all_are(origins(3, @spoof, 'X-Forwarded-Proto' => 'http'),
        'https://Conf.Example.org:8443',
        'confhaven_public_url, headers spoofed');

$t->done_testing();
