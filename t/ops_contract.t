#!/usr/bin/perl

# One descriptor per operation: the REST query parameters documented in
# GET /api/swagger.json and the MCP tools' inputSchema carry the same
# types, bounds, defaults, lengths and values, and REST enforces them
# (a value just past a bound is refused by both front ends).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use ConfHaven::Test;
use ConfHaven::MCP;

my $t = ConfHaven::Test->new()->needs_module()->needs_pg()->worker_processes(1);
$t->plan(11);
$t->db();

$t->write_conf(<<'EOF2');
confhaven_pg_server "%%DSN%%";
server {
    listen 127.0.0.1:%%PORT_1%%;
    location / {
        confhaven_rest on;
    }
    location = /mcp {
        confhaven_mcp on;
    }
}
EOF2
$t->run();

my $doc = $t->get_json('/api/swagger.json')->{json};
my $m = ConfHaven::MCP->new($t, path => '/mcp');
my $tools = $m->modern('tools/list', {})->{json}{result}{tools};
my %tool = map { $_->{name} => $_ } @$tools;

my @keys = qw(type minimum maximum default maxLength enum);

sub rest_params {
    my ($path) = @_;
    my %p;
    for my $prm (@{ $doc->{paths}{$path}{get}{parameters} // [] }) {
        if (($prm->{'$ref'} // '') =~ m{^#/components/parameters/(\w+)$}) {
            $prm = $doc->{components}{parameters}{$1};
        }
        next if ($prm->{in} // '') ne 'query';
        $p{$prm->{name}} = $prm->{schema};
    }
    return \%p;
}

sub same {
    my ($a, $b) = @_;
    return { map { exists $a->{$_} ? ($_ => $a->{$_}) : () } @keys },
           { map { exists $b->{$_} ? ($_ => $b->{$_}) : () } @keys };
}

# search_sessions: every argument is a query parameter (query is "q")
my $rest = rest_params('/api/sessions');
my $in = $tool{search_sessions}{inputSchema}{properties};
my @names = sort keys %$in;
is(scalar @names, 14, 'search_sessions: 14 arguments');
is_deeply([ sort map { $_ eq 'query' ? 'q' : $_ } @names ], [ sort keys %$rest ],
          'the same names in the OpenAPI document (query = q)');

my @diff;
for my $n (@names) {
    my ($x, $y) = same($in->{$n}, $rest->{$n eq 'query' ? 'q' : $n});
    push @diff, $n unless JSON::PP->new->canonical->encode($x)
                       eq JSON::PP->new->canonical->encode($y);
}
is_deeply(\@diff, [], 'the same types, bounds, defaults, lengths and values');
is($in->{limit}{maximum}, 50, 'limit: at most 50 in the inputSchema');
is($rest->{q}{maxLength}, 500, 'q: at most 500 bytes in the OpenAPI document');

# list_conferences and /api/conferences
my ($x, $y) = same($tool{list_conferences}{inputSchema}{properties}{include_past},
                   rest_params('/api/conferences')->{include_past});
is_deeply($x, $y, 'include_past: the same for list_conferences and /api/conferences');

# the bounds are enforced the same way by both front ends
is($t->get_json('/api/sessions?limit=51')->{status}, 400, 'REST: limit=51 is refused');
my $r = $m->modern('tools/call', { name => 'search_sessions', arguments => { limit => 51 } });
ok($r->{json}{result}{isError}, 'MCP: limit 51 is refused');
my $long = 'x' x 501;
is($t->get_json("/api/sessions?q=$long")->{status}, 400, 'REST: a 501-byte q is refused');
$r = $m->modern('tools/call', { name => 'search_sessions', arguments => { query => $long } });
ok($r->{json}{result}{isError} || ($r->{json}{error}{code} // 0) == -32602,
   'MCP: a 501-byte query is refused');
like($t->get_json('/api/sessions?limit=0')->{json}{error}{message} // '',
     qr/"limit" must be an integer from 1 to 50/, 'REST: the bound in the message');
