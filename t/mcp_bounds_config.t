#!/usr/bin/perl

# confhaven_mcp_max_batch and confhaven_mcp_max_body_size in the
# configuration: their ranges, duplicates and inheritance from http {}.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;


my $t = ConfHaven::Test->new()->needs_module()->plan(10);

sub conf {
    my ($http, $loc) = @_;
    return <<"EOF";
$http
server {
    listen 127.0.0.1:%%PORT_1%%;
    location /mcp {
        confhaven_mcp on;
        $loc
    }
}
EOF
}

sub bad {
    my ($name, $conf, $re) = @_;
    $t->write_conf($conf);
    my ($rc, $out) = $t->test_config();
    isnt($rc, 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\][^\n]*$re/, "$name: emerg message") or diag($out);
}

sub good {
    my ($name, $conf) = @_;
    $t->write_conf($conf);
    my ($rc, $out) = $t->test_config();
    is($rc, 0, "$name: nginx -t passes") or diag($out);
}

bad('confhaven_mcp_max_batch 0', conf('', 'confhaven_mcp_max_batch 0;'),
    qr/"confhaven_mcp_max_batch" must be from 1 to 1024/);
bad('confhaven_mcp_max_batch 1025', conf('confhaven_mcp_max_batch 1025;', ''),
    qr/"confhaven_mcp_max_batch" must be from 1 to 1024/);
bad('confhaven_mcp_max_batch abc', conf('', 'confhaven_mcp_max_batch abc;'),
    qr/"confhaven_mcp_max_batch" directive invalid number/);
bad('confhaven_mcp_max_body_size 512', conf('', 'confhaven_mcp_max_body_size 512;'),
    qr/"confhaven_mcp_max_body_size" must be at least 1k/);
good('both set in http {}',
     conf("confhaven_mcp_max_batch 1;\nconfhaven_mcp_max_body_size 64k;", ''));
good('both set in the location',
     conf('', "confhaven_mcp_max_batch 1024;\nconfhaven_mcp_max_body_size 8m;"));
