#!/usr/bin/perl

# nginx's own errors on an MCP location (confhaven_mcp_errors): a body past
# client_max_body_size (413), limit_req's 429 and a location's bare 503
# reach the client as JSON-RPC errors with "id": null and the same HTTP
# status, not the REST error shape or nginx's HTML page; the REST locations
# keep confhaven_json_errors' shape; nginx -t refuses confhaven_mcp_errors
# next to another content directive.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;


my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->plan(24);

$t->db();
$t->write_conf(<<'EOF');
http {
    confhaven_pg_server "%%DSN%%";
    limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;

    server {
        listen 127.0.0.1:%%PORT_1%%;

        client_max_body_size 1k;

        error_page 400 404 405 413 414 429 494 500 502 503 504 /.confhaven-error;

        location / {
            confhaven_rest on;
        }

        location = /mcp {
            confhaven_mcp on;
            error_page 400 404 405 413 414 429 494 500 502 503 504 /.confhaven-mcp-error;
        }

        location = /mcp-limited {
            limit_req zone=one nodelay;
            limit_req_status 429;
            confhaven_mcp on;
            error_page 400 404 405 413 414 429 494 500 502 503 504 /.confhaven-mcp-error;
        }

        location /sse {
            confhaven_mcp_sse on;
            error_page 400 404 405 413 414 429 494 500 502 503 504 /.confhaven-mcp-error;
        }

        location = /mcp-down {
            error_page 503 /.confhaven-mcp-error;
            return 503;
        }

        location = /.confhaven-error {
            internal;
            confhaven_json_errors on;
        }

        location = /.confhaven-mcp-error {
            internal;
            confhaven_mcp_errors on;
        }
    }
}
EOF
$t->run();

my $J = $t->json;
my $list = $J->encode({ jsonrpc => '2.0', id => 1, method => 'tools/list',
                        params => { _meta => {} } });
my @accept = (Accept => 'application/json, text/event-stream');

sub mcp_error_ok {
    my ($r, $status, $code, $re, $name) = @_;
    is($r->{status}, $status, "$name: HTTP $status");
    like($r->{headers}{'content-type'} // '', qr{^application/json}, "$name: JSON");
    my $b = eval { $J->decode($r->{body}) } // {};
    is($b->{jsonrpc}, '2.0', "$name: a JSON-RPC message");
    ok(exists $b->{id} && !defined $b->{id}, "$name: id null");
    is($b->{error}{code}, $code, "$name: code $code");
    like($b->{error}{message} // '', $re, "$name: message");
}

# 413: nginx refuses the body before the MCP handler runs
my $big = '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"'
          . ('a' x 4000) . '"}}';
my $r = $t->http('POST', '/mcp', body => $big, content_type => 'application/json',
                 headers => [@accept]);
mcp_error_ok($r, 413, -32600, qr/^Invalid Request: the request body is too large/, '413 on /mcp');

$r = $t->http('POST', '/sse/messages?sessionId=x', body => $big,
              content_type => 'application/json');
mcp_error_ok($r, 413, -32600, qr/^Invalid Request: the request body is too large/, '413 on /sse');

# 429: limit_req allows one request a minute
$t->http('POST', '/mcp-limited', body => $list, content_type => 'application/json',
         headers => [@accept]);
$r = $t->http('POST', '/mcp-limited', body => $list, content_type => 'application/json',
              headers => [@accept]);
mcp_error_ok($r, 429, -32000, qr/^Server busy: too many requests/, '429');

# 503 given by the location
$r = $t->http('POST', '/mcp-down', body => $list, content_type => 'application/json');
is($r->{status}, 503, '503: status');
like($r->{body} // '', qr/"code":\s*-32000/, '503: server busy code');

# REST keeps its own error shape
$r = $t->http('POST', '/api/sessions', body => ('x' x 4000),
              content_type => 'application/json');
is($r->{status}, 413, 'REST 413: status');
my $b = eval { $J->decode($r->{body}) } // {};
ok(!exists $b->{jsonrpc} && $b->{error}{code}, 'REST 413: the REST shape');

# nginx -t: one content directive per location
my $bad = ConfHaven::Test->new()->needs_module();
$bad->write_conf(<<'EOF');
server {
    listen 127.0.0.1:%%PORT_1%%;
    location = /x {
        confhaven_mcp on;
        confhaven_mcp_errors on;
    }
}
EOF
my ($rc, $out) = $bad->test_config;
isnt($rc, 0, 'nginx -t refuses two content directives');
like($out, qr/"confhaven_mcp_errors" directive cannot be used with "confhaven_mcp"/,
     'nginx -t names both');
