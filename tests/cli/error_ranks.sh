# Sourced by the CLI tests: which ranks reported an error.
#
# error_ranks FILE [REGEX [NP]]: prints how many distinct ranks the error lines
# of FILE that match REGEX (Perl syntax; default: every line) name; NP is the
# rank count that "all ranks" stands for. An error every rank has is printed
# once by rank 0 as "lockstep CMD: error on ranks 0-3,5: ...", one rank's as
# "error on rank 1: ...". An error line is one with
# "error" followed, before the next ':', by the ranks it applies to, in any of
# these forms (one line per rank, or one line for several ranks):
#   ... error on rank 3: MESSAGE
#   ... error on ranks 0, 1 and 3: MESSAGE     (also "0,1,3", "0-3", "0 to 3")
#   ... error on all 4 ranks: MESSAGE          (also "every rank"/"all ranks": NP)
# Open MPI's own lines ("MPI_ABORT was invoked on rank 1 ... errorcode 1") are
# not error lines in this sense.
error_ranks() {
  perl -e '
    my ($file, $re, $np) = @ARGV;
    $re = "." unless defined $re && length $re;
    $np = 0 unless defined $np && length $np;
    open(my $in, "<", $file) or die "$file: $!";
    my %ranks;
    while (my $line = <$in>) {
      next unless $line =~ /$re/;
      if ($line =~ /\berror\b[^:]*?\b(?:all|every|each of the)\s+(\d+)\s+ranks\b/) {
        $ranks{$_} = 1 for 0 .. $1 - 1;
      } elsif ($line =~ /\berror\b[^:]*?\b(?:all|every)\s+ranks?\b/) {
        $ranks{$_} = 1 for 0 .. $np - 1;
      } elsif ($line =~ /\berror\b[^:]*?\branks?\s+(\d+(?:\s*(?:,|and|to|-|\x{2013})\s*\d+)*)/) {
        for my $item (split /\s*(?:,|\band\b)\s*/, $1) {
          if ($item =~ /^(\d+)\s*(?:-|to)\s*(\d+)$/) {
            $ranks{$_} = 1 for $1 .. $2;
          } elsif ($item =~ /^(\d+)$/) {
            $ranks{$1} = 1;
          }
        }
      }
    }
    print scalar(keys %ranks), "\n";
  ' "$1" "${2:-}" "${3:-}"
}
