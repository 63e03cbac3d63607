import Roentgen
print("roentgen")
