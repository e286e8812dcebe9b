-- The scaffolds adapter's section (Section::Scaffolds): each compound's
-- Bemis–Murcko scaffold, its generic form and its ring systems. A few dozen
-- bytes a compound, so no compression setting (20261129000001) is needed.
ALTER TABLE compound_results ADD COLUMN scaffolds JSONB;
