"""Reports for admins and teachers: a projection of counts by school day
(`aggregates`), pure reports over a period (`queries`), and the aggregates
kept current beside each school's runtime (`live`)."""
