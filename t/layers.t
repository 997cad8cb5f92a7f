#!/usr/bin/perl
# t/layers.t — ci/layers (the module's files depend only downwards) on small
# synthetic trees in a temp dir, then on the module itself. No nginx, no
# database: plain Test::More.

use strict;
use warnings;
use utf8;

use FindBin;
use File::Temp qw(tempdir);
use File::Path qw(make_path);
use File::Basename qw(dirname);
use Test::More;

binmode Test::More->builder->$_, ':utf8' for qw(output failure_output);

my $layers = "$FindBin::Bin/../ci/layers";
my $p = 'ngx_http_confhaven_';

# a definition in nginx style; $uses: functions it calls
sub fn {
    my ($type, $name, @uses) = @_;
    "$type\n$p$name(void)\n{\n" . join('', map { "    $p$_();\n" } @uses)
        . "}\n\n";
}

sub inc { join '', map { "#include \"$p$_.h\"\n" } @_ }

# a clean layered tree: top, http, mcp, ops, data, util (12 files)
my %clean = (
    "${p}module.h" => inc('pg'),
    "${p}module.c" => inc(qw(module rest mcp)) . fn('void', 'module_init',
                                                    'rest_init', 'mcp_init'),
    "http/${p}rest.h" => '',
    # the exception: a front end reads the module's conf
    "http/${p}rest.c" => "#include <ngx_core.h>\n"
        . inc(qw(module rest mcp ops json))
        . fn('ngx_int_t', 'rest_init', 'ops_run', 'json_dump'),
    "mcp/${p}mcp.h" => inc('ops'),
    "mcp/${p}mcp.c" => inc(qw(mcp pg json))
        . fn('ngx_int_t', 'mcp_init', 'ops_run'),
    "ops/${p}ops.h" => '',
    "ops/${p}ops.c" => inc(qw(ops pg json)) . fn('void', 'ops_run', 'pg_query'),
    "data/${p}pg.h" => "#include <hiredis/async.h>\n",
    # a static function may share a higher layer's name: it is its own
    "data/${p}pg.c" => inc(qw(pg json)) . fn('static void', 'rest_init')
        . fn('void', 'pg_query', 'json_dump', 'rest_init'),
    "util/${p}json.h" => '',
    # names in comments and strings are no uses
    "util/${p}json.c" => qq{#include "../util/${p}json.h"\n}
        . "/* unlike ${p}ops_run() */\n"
        . fn('void', 'json_dump')
        . "static char *s = \"${p}mcp_init()\";\n",
);

# write the clean tree with %change applied (undef removes a file), run
# ci/layers with @args on it: (exit status, output)
sub run {
    my ($change, @args) = @_;
    my $dir = tempdir(CLEANUP => 1);
    my %t = (%clean, %{ $change || {} });
    for my $f (grep { defined $t{$_} } keys %t) {
        make_path(dirname("$dir/$f"));
        open my $fh, '>', "$dir/$f" or die "$dir/$f: $!";
        print $fh $t{$f};
        close $fh;
    }
    my $out = `$^X $layers @args $dir 2>&1`;
    utf8::decode($out);
    return ($? >> 8, $out);
}

my ($rc, $out);

ok(-x $layers, 'ci/layers is executable');

($rc, $out) = run();
is($rc, 0, 'clean tree: passes');
like($out, qr/^ci\/layers: 12 files, 6 layers, no upward include or use, no cycle$/,
     'clean tree: summary');

($rc, $out) = run({ "mcp/${p}mcp_cluster.c" => inc(qw(mcp sse)),
                    "http/${p}sse.h" => '' });
is($rc, 1, 'upward include: fails');
like($out, qr/^ci\/layers: mcp\/${p}mcp_cluster\.c includes http\/${p}sse\.h \(mcp may include ops, data, util\)$/m,
     'upward include: message');

($rc, $out) = run({ "util/${p}json.h" => inc('pg') });
like($out, qr/^ci\/layers: util\/${p}json\.h includes data\/${p}pg\.h \(util may include nothing of ours\)$/m,
     'util includes nothing of ours');

($rc, $out) = run({ "mcp/${p}a.h" => '', "mcp/${p}b.h" => '',
                    "mcp/${p}a.c" => inc('b'), "mcp/${p}b.c" => inc('a') });
is($rc, 1, 'cycle of two files in one folder: fails');
like($out, qr/^ci\/layers: include cycle: mcp\/a → mcp\/b → mcp\/a$/m,
     'cycle: printed as a → b → a');

($rc, $out) = run({ "ops/${p}ops.c" => inc(qw(ops nowhere)) });
is($rc, 1, 'missing header: fails');
like($out, qr/^ci\/layers: ops\/${p}ops\.c includes "${p}nowhere\.h", which is not in the tree/m,
     'missing header: message');

($rc, $out) = run({ "data/${p}pg.c" => qq{#include "hiredis/async.h"\n} });
like($out, qr/includes "hiredis\/async\.h", which is not in the tree \(libraries go in <\.\.\.>\)/,
     'a library in quotes: told to use <...>');

($rc, $out) = run({ "http/${p}sse.c" => inc('module') });
is($rc, 0, 'http may include the module header')
    or diag($out);

($rc, $out) = run({ "mcp/${p}tools.c" => inc('module') });
is($rc, 1, 'mcp including the module header: fails');
like($out, qr/^ci\/layers: mcp\/${p}tools\.c includes ${p}module\.h \(mcp may include ops, data, util\)$/m,
     'mcp including the module header: message');

($rc, $out) = run({ "http/${p}sse.c" => inc('other'), "${p}other.h" => '' });
like($out, qr/http\/${p}sse\.c includes ${p}other\.h \(http may include mcp, ops, util, ${p}module\.h\)/,
     'the exception is the module header only');

# the module's .h including a front end's header that includes it back
($rc, $out) = run({ "${p}module.h" => inc('rest'),
                    "http/${p}rest.h" => inc('module') });
like($out, qr/^ci\/layers: include cycle: http\/rest → module\.h → http\/rest$/m,
     'top header cycle: found');

($rc, $out) = run({ "data/${p}pg.c" => inc('pg') . fn('void', 'pg_query',
                                                      'mcp_init') });
is($rc, 1, 'upward call: fails');
like($out, qr/^ci\/layers: data\/${p}pg\.c uses ${p}mcp_init of mcp\/${p}mcp\.c \(data may include util\)$/m,
     'upward call: message');
like($out, qr/^ci\/layers: folder cycle: data → mcp → data$/m,
     'upward call: folder cycle');

($rc, $out) = run({ "util/${p}json.h" => undef, "util/${p}json.c" => undef,
                    "misc/${p}json.h" => '', "misc/${p}json.c" => '' });
like($out, qr/^ci\/layers: misc\/${p}json\.c is in misc\/, which is no layer/m,
     'unknown folder: fails');

($rc, $out) = run({ "ops/${p}json.h" => '' });
like($out, qr/includes "${p}json\.h", which is ambiguous: ops\/${p}json\.h, util\/${p}json\.h/,
     'two headers of one name: ambiguous');

# --plan: a flat tree checked as if moved
my $plan = tempdir(CLEANUP => 1) . '/plan';
open my $fh, '>', $plan or die;
print $fh "# comment\ntop ${p}module.*\nhttp/ ${p}rest.*\n"
          . "util/ ${p}json.h ${p}json.c\nmcp/ ${p}mcp*\n"
          . "ops/ ${p}ops.c ${p}ops.h  # two names\ndata ${p}pg.*\n";
close $fh;
my %flat = map { my $f = $_ =~ s{.*/}{}r; ($_ => undef, $f => $clean{$_}) }
           grep { m{/} } keys %clean;
$flat{"${p}extra.c"} = '';
$flat{"${p}json.c"} = $clean{"util/${p}json.c"} =~ s{\.\./util/}{}r;
($rc, $out) = run(\%flat);
is($rc, 0, 'flat tree: all top, passes');
($rc, $out) = run(\%flat, '--plan', $plan);
like($out, qr/^ci\/layers: note: ${p}extra\.c is not in /m,
     '--plan: unmapped file noted');
unlike($out, qr/includes|uses/, '--plan: a clean mapping has no upward edge');
$flat{"${p}json.c"} .= inc('rest');
($rc, $out) = run(\%flat, '--plan', $plan);
is($rc, 1, '--plan: a violation after the moves fails');
like($out, qr/^ci\/layers: util\/${p}json\.c includes http\/${p}rest\.h/m,
     '--plan: paths shown as planned');

($rc, $out) = run({}, '--graph');
like($out, qr/^  http    → ops        1\/1   $/m, '--graph: edge counts');

($rc, $out) = run({ "mcp/${p}x.h" => '', "mcp/${p}x.c" => fn('void', 'x',
    'mcp_init'), "mcp/${p}mcp.c" => inc(qw(mcp x pg json))
    . fn('ngx_int_t', 'mcp_init', 'x') });
is($rc, 0, 'a cycle of uses in one folder passes by default');
($rc, $out) = run({ "mcp/${p}x.h" => '', "mcp/${p}x.c" => fn('void', 'x',
    'mcp_init'), "mcp/${p}mcp.c" => inc(qw(mcp x pg json))
    . fn('ngx_int_t', 'mcp_init', 'x') }, '--use-cycles');
like($out, qr/^ci\/layers: use cycle: mcp\/mcp → mcp\/x → mcp\/mcp$/m,
     '--use-cycles: found');

# the module itself, as make test checks it: no cycle of uses either
$out = `$^X $layers --use-cycles 2>&1`;
is($?, 0, 'ngx_http_confhaven_module/ passes, --use-cycles too') or diag($out);

done_testing();
