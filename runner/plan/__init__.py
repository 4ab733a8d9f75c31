"""Planning: axes -> matrix -> templates -> jobs -> cost, producing a Plan."""
