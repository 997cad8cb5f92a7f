#!/usr/bin/perl
# t/layers_mcp.t — the MCP protocol files point down only (issue 8, "layers
# that point one way"): no include of the module's, a transport's or the SSE
# framing header; no call into a front end; no cycle of calls between the
# MCP files and the front ends; fixture tools only in their own file.
#
# The call graph is read from the source: file A calls file B when A names
# a function that B defines (a name at column 0 followed by "("), in a call
# or as a pointer (a method table, a callback). The top
# file (ngx_http_confhaven_module.c) wires everything and is left out.
# No nginx, no database: this runs anywhere.

use strict;
use warnings;
use Test::More;
use FindBin;

my $dir = "$FindBin::Bin/../ngx_http_confhaven_module";
my $p   = 'ngx_http_confhaven_';

my @mcp   = map { "$p$_" } qw(mcp_session.c mcp_cluster.c mcp_cluster.h
                              mcp_fixtures.c mcp.h);
my @front = map { "$p$_" } qw(transport_http.c transport_sse.c sse.c);
my @upper = map { "$p$_" } qw(module.h transport.h sse.h);

plan(tests => @mcp + 5);

# a file by name, in whichever layer folder it lives
sub path {
    my ($f) = @_;
    my ($p) = grep { -e } ("$dir/$f", glob("$dir/*/$f"));
    return $p // "$dir/$f";
}

sub slurp {
    my ($f) = @_;
    open(my $fh, '<', path($f)) or return '';
    local $/;
    my $s = <$fh>;
    $s =~ s{/\*.*?\*/}{}gs;    # comments name functions too
    return $s;
}

# ---- includes

for my $f (@mcp) {
    my $s = slurp($f);
    my @up = grep { my $h = $_; $s =~ /#include\s+"\Q$h\E"/ } @upper;
    ok(-e path($f) && !@up, "$f includes no upper header")
        or diag("$f includes @up");
}

# ---- calls

my (%defines, %text);

for my $f (map { "$p$_" } qw(mcp.c mcp_session.c mcp_cluster.c
                             mcp_fixtures.c transport_http.c
                             transport_sse.c sse.c)) {
    $text{$f} = slurp($f);
    $defines{$1} = $f while $text{$f} =~ /^(ngx_http_confhaven_\w+)\(/mg;
}

my %calls;    # file -> file -> one function, for the message

for my $f (keys %text) {
    while ($text{$f} =~ /\b(ngx_http_confhaven_\w+)\b/g) {
        my $g = $defines{$1};
        $calls{$f}{$g} //= $1 if defined $g && $g ne $f;
    }
}

my @mcp_c = map { "$p$_" } qw(mcp.c mcp_session.c mcp_cluster.c
                              mcp_fixtures.c);
my @upcalls;

for my $f (@mcp_c) {
    for my $g (@front) {
        push @upcalls, "$f -> $g ($calls{$f}{$g})" if $calls{$f}{$g};
    }
}

ok(!@upcalls, 'the MCP files call no front end') or diag(join("\n", @upcalls));

ok(!$calls{"${p}mcp_session.c"}{"${p}mcp_cluster.c"},
   'the session zone does not call the cluster (it notifies through a '
   . 'callback)')
    or diag('mcp_session.c calls '
            . $calls{"${p}mcp_session.c"}{"${p}mcp_cluster.c"});

# a cycle: a file that reaches itself

my @cycles;

for my $start (sort keys %text) {
    my (%seen, @todo);
    @todo = map { [$_, "$start -> $_"] } keys %{ $calls{$start} || {} };
    while (my $n = shift @todo) {
        my ($f, $path) = @$n;
        if ($f eq $start) { push @cycles, $path; last }
        next if $seen{$f}++;
        push @todo, map { [$_, "$path -> $_"] } keys %{ $calls{$f} || {} };
    }
}

ok(!@cycles, 'no cycle of calls between the MCP files and the front ends')
    or diag(join("\n", @cycles));

# ---- fixtures

my $product = join('', map { $text{$_} } grep { !/fixtures/ } keys %text);

ok($product !~ /test_missing_capability|test_logging_tool|fixture_t\b/,
   'the product path names no conformance fixture');

ok(slurp("${p}mcp.c") !~ /"[^"]*\b(search_sessions|get_session|list_conferences)\b[^"]*\)/,
   'no tool list hard-coded in an mcp.c message');
